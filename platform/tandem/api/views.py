"""REST API views: each takes ids, checks permissions, and calls one service or selector.

Objects are fetched with the viewset's get_object(): DRF's lookup answers 404 to an id that
is not a number ("null,null"), where Django's get_object_or_404 raised a 500. Extra actions
take **kwargs: the router also serves them with a format suffix (`/api/projects/1/stats.json`),
which passes `format=`; without it that URL was a 500.
"""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from tandem.core import jobs, judging, selectors
from tandem.core.models import Job, Pair, Project

from . import serializers as s
from .permissions import requires


class ProjectViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    queryset = Project.objects.order_by("name")
    serializer_class = s.ProjectSerializer

    def perform_create(self, serializer):
        serializer.save(created_by=self.request.user)

    @extend_schema(responses=s.StatsSerializer)
    @action(detail=True, methods=["get"])
    def stats(self, request, pk=None, **kwargs):
        counts = selectors.project_counts(self.get_object())
        return Response(
            {k: v for k, v in counts.items() if k not in {"jobs", "datasets", "runs", "routing"}}
            | {"routing": counts["routing"], "cost": float(counts["cost"])}
        )

    @extend_schema(
        request={"multipart/form-data": s.ImportRequestSerializer}, responses={202: s.JobSerializer}
    )
    @action(
        detail=True,
        methods=["post"],
        serializer_class=s.ImportRequestSerializer,
        permission_classes=[requires("core.add_pair", "core.add_job")],
    )
    def imports(self, request, pk=None, **kwargs):
        """Upload a file of pairs; it is imported by a background job (poll the job)."""
        project = self.get_object()
        form = s.ImportRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        job = jobs.start_upload_import(
            project, data["file"], data["format"], data["skip_invalid"], request.user
        )
        return Response(s.JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=s.JudgeRequestSerializer, responses={202: s.JobSerializer})
    @action(
        detail=True,
        methods=["post"],
        serializer_class=s.JudgeRequestSerializer,
        permission_classes=[requires("core.add_judgment", "core.add_job")],
    )
    def judge(self, request, pk=None, **kwargs):
        """Judge the project's pairs in both orders in a background job (poll the job)."""
        project = self.get_object()
        form = s.JudgeRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        judging.resolve_config(project, form.validated_data["judge"])  # a bad name is a 400 now
        job = jobs.start_job("judge", project=project, user=request.user, params=dict(form.validated_data))
        return Response(s.JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class PairViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Pair.objects.none()  # for schema introspection; requests use get_queryset
    serializer_class = s.PairSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular building the schema
            return Pair.objects.none()
        pairs = Pair.objects.filter(project_id=self.kwargs["project_pk"]).order_by("id")
        if category := self.request.query_params.get("category"):
            pairs = pairs.filter(category=category)
        if self.action == "retrieve":
            pairs = pairs.prefetch_related("judgments", "human_labels")
        return pairs

    def get_serializer_class(self):
        return s.PairDetailSerializer if self.action == "retrieve" else s.PairSerializer


class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Job.objects.order_by("-created_at")
    serializer_class = s.JobSerializer

    @extend_schema(request=None, responses=s.JobSerializer)
    @action(detail=True, methods=["post"], permission_classes=[requires("core.change_job")])
    def cancel(self, request, pk=None, **kwargs):
        job = jobs.request_cancel(self.get_object())
        return Response(s.JobSerializer(job).data)
