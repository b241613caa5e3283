from django.contrib import admin
from django.urls import include, path

from tandem.api.webhooks import argilla_webhook

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/", include("tandem.api.urls")),
    path("argilla/webhook/", argilla_webhook, name="argilla-webhook"),
    path("", include("tandem.web.urls")),
]
