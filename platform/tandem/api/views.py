"""REST API views: each takes ids, checks access, and calls one service or selector.

Every object is fetched through the access_* selectors: a project the user is no member of is
a 404 (its name never leaks), a role too weak for the action a 403. Lists show only the user's
projects and their jobs. Ids that are not numbers ("null,null") are 404s, not 500s. Extra
actions take **kwargs: the router also serves them with a format suffix
(`/api/projects/1/stats.json`), which passes `format=`.
"""

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from tandem.core import guarantee, jobs, judging, roles, selectors, services, uploads
from tandem.core.models import Job, Membership, Pair, Project

from . import serializers as s
from .stages import IDEMPOTENCY_KEY, idempotency_key
from .throttles import ThrottleFailedSignIns


class ProjectViewSet(
    ThrottleFailedSignIns,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    queryset = Project.objects.none()  # for schema introspection; requests use get_queryset
    serializer_class = s.ProjectSerializer

    def get_queryset(self):
        return selectors.projects_for(self.request.user)

    def get_object(self):
        write = self.action in {"update", "partial_update", "imports", "judge"}
        project = selectors.access_project(self.request.user, self.kwargs["pk"], write=write)
        self.check_object_permissions(self.request, project)
        return project

    def create(self, request, *args, **kwargs):
        """Creators (the global engineer group) and admins, checked before the body is."""
        if not roles.may_create_projects(request.user):
            raise PermissionDenied("only engineers (the global role) and admins may create projects")
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer):
        """The creator becomes the new project's engineer (an admin sees it anyway)."""
        serializer.instance = services.new_project(**serializer.validated_data, user=self.request.user)

    def job_data(self, job) -> dict:
        return s.JobSerializer(job, context={"request": self.request}).data

    @extend_schema(responses=s.StatsSerializer)
    @action(detail=True, methods=["get"])
    def stats(self, request, pk=None, **kwargs):
        counts = selectors.project_counts(self.get_object())
        return Response(
            {k: v for k, v in counts.items() if k not in {"jobs", "datasets", "runs", "routing"}}
            | {"routing": counts["routing"], "cost": float(counts["cost"])}
        )

    @extend_schema(
        request={"multipart/form-data": s.ImportRequestSerializer},
        responses={202: s.JobSerializer, 409: s.ErrorSerializer},
        parameters=[IDEMPOTENCY_KEY],
    )
    @action(detail=True, methods=["post"], serializer_class=s.ImportRequestSerializer)
    def imports(self, request, pk=None, **kwargs):
        """Upload a file of pairs; it is imported by a background job (poll the job). A body
        over TANDEM_MAX_UPLOAD_MB is a 413 before it is read."""
        project = self.get_object()
        uploads.check_request_size(request.META.get("CONTENT_LENGTH"))
        form = s.ImportRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        job = jobs.start_upload_import(
            project,
            data["file"],
            data["format"],
            data["skip_invalid"],
            request.user,
            idempotency_key=idempotency_key(request),
        )
        return Response(self.job_data(job), status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=s.JudgeRequestSerializer,
        responses={202: s.JobSerializer, 409: s.ErrorSerializer},
        parameters=[IDEMPOTENCY_KEY],
    )
    @action(detail=True, methods=["post"], serializer_class=s.JudgeRequestSerializer)
    def judge(self, request, pk=None, **kwargs):
        """Judge the project's pairs in both orders in a background job (poll the job)."""
        project = self.get_object()
        form = s.JudgeRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        judging.resolve_config(project, form.validated_data["judge"])  # a bad name is a 400 now
        if form.validated_data.get("escalated"):  # no cascade to follow is a 400 now, not a failed job
            guarantee.escalated_scope(project, form.validated_data["judge"])
        job = jobs.start_job(
            "judge",
            project=project,
            user=request.user,
            params=dict(form.validated_data),
            idempotency_key=idempotency_key(request),
        )
        return Response(self.job_data(job), status=status.HTTP_202_ACCEPTED)


class PairViewSet(
    ThrottleFailedSignIns, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    queryset = Pair.objects.none()  # for schema introspection; requests use get_queryset
    serializer_class = s.PairSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular building the schema
            return Pair.objects.none()
        project = selectors.access_project(self.request.user, self.kwargs["project_pk"])
        pairs = Pair.objects.filter(project=project).order_by("id")
        if category := self.request.query_params.get("category"):
            pairs = pairs.filter(category=category)
        if self.action == "retrieve":
            pairs = pairs.prefetch_related("judgments", "human_labels")
        return pairs

    def get_serializer_class(self):
        return s.PairDetailSerializer if self.action == "retrieve" else s.PairSerializer


class MemberViewSet(
    ThrottleFailedSignIns,
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """A project's members: its readers see the list; only admins add a member (or change their
    role) by user name, and remove one. A stranger to the project gets 404 like everywhere."""

    queryset = Membership.objects.none()  # for schema introspection; requests use get_queryset
    serializer_class = s.MembershipSerializer

    def project(self) -> Project:
        project = selectors.access_project(self.request.user, self.kwargs["project_pk"])
        if self.action in {"create", "destroy"} and not self.request.user.is_superuser:
            raise PermissionDenied("only admins manage a project's members")
        return project

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Membership.objects.none()
        return selectors.members_of(self.project())

    @extend_schema(request=s.MemberRequestSerializer, responses={201: s.MembershipSerializer})
    def create(self, request, *args, **kwargs):
        project = self.project()
        form = s.MemberRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        user = get_object_or_404(get_user_model(), username=form.validated_data["username"])
        member = roles.add_member(user, project, form.validated_data["role"])
        return Response(s.MembershipSerializer(member).data, status=status.HTTP_201_CREATED)


class JobViewSet(
    ThrottleFailedSignIns, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    queryset = Job.objects.none()  # for schema introspection; requests use get_queryset
    serializer_class = s.JobSerializer

    def get_queryset(self):
        """Jobs people started; a fanned-out judge job's shards are reachable by id (and add up
        in their parent's progress), not listed one by one."""
        return selectors.jobs_for(self.request.user).filter(parent__isnull=True).order_by("-created_at")

    def get_object(self):
        return selectors.access_job(self.request.user, self.kwargs["pk"], write=self.action == "cancel")

    @extend_schema(request=None, responses=s.JobSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None, **kwargs):
        job = jobs.request_cancel(self.get_object())
        return Response(self.get_serializer(job).data)
