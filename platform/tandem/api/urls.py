from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter, SimpleRouter

from . import views

router = DefaultRouter()
router.register("projects", views.ProjectViewSet)
router.register("jobs", views.JobViewSet)
pairs = SimpleRouter()
pairs.register("pairs", views.PairViewSet, basename="pair")

urlpatterns = [
    path("", include(router.urls)),
    path("projects/<int:project_pk>/", include(pairs.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
]
