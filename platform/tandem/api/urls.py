from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import APIRootView, DefaultRouter, SimpleRouter

from . import stages, views
from .permissions import ProjectReaders
from .throttles import ThrottleFailedSignIns


class RootView(ThrottleFailedSignIns, APIRootView):
    """The API's index of links: stock DRF lets anyone read it; here only project readers."""

    permission_classes = [ProjectReaders]


router = DefaultRouter()
router.APIRootView = RootView
router.register("projects", views.ProjectViewSet, basename="project")
router.register("jobs", views.JobViewSet, basename="job")
nested = SimpleRouter()
nested.register("pairs", views.PairViewSet, basename="pair")
nested.register("members", views.MemberViewSet, basename="member")
nested.register("route", stages.RouteViewSet, basename="route")
nested.register("sync", stages.SyncViewSet, basename="sync")
nested.register("audits", stages.AuditViewSet, basename="audit")
nested.register("datasets", stages.DatasetViewSet, basename="dataset")
nested.register("training-runs", stages.TrainingRunViewSet, basename="training-run")
nested.register("alerts", stages.AlertViewSet, basename="alert")

urlpatterns = [
    path("", include(router.urls)),
    path("projects/<int:project_pk>/", include(nested.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
]
