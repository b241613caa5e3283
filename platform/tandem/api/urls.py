from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import APIRootView, DefaultRouter, SimpleRouter

from . import views
from .permissions import ProjectReaders


class RootView(APIRootView):
    """The API's index of links: stock DRF lets anyone read it; here only project readers."""

    permission_classes = [ProjectReaders]


router = DefaultRouter()
router.APIRootView = RootView
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
