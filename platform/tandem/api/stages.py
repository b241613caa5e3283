"""REST API for the pipeline's stages, nested under /api/projects/<project_pk>/: route, sync,
audits, datasets, training runs and alerts.

Each view checks access through selectors.access_project (another team's project is a 404, a
role too weak a 403: engineers start and cancel, auditors read) and calls one service. Work that
takes a while runs as a background job: the POST answers 202 with the job (poll /api/jobs/<id>/,
cancel it there), and a second job of the same kind while one is active is a 409. A POST that
starts work takes an `Idempotency-Key` header: sent again, it returns the first job.
"""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from tandem.core import audits, datasets, jobs, routing, selectors, services, training
from tandem.core.models import Alert, AuditReport, DatasetVersion, Project, RoutingPolicyVersion, TrainingRun

from . import serializers as s
from .throttles import ThrottleFailedSignIns

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="any string up to 200 characters: the same key from the same user returns the job "
    "the first request started instead of starting another",
)
ERRORS = {
    400: OpenApiResponse(
        description="bad input: {field: [messages]} for a malformed body, or {code, message, key} "
        "for a value a service refused (config_invalid names the dotted key)"
    ),
    404: OpenApiResponse(description="no such project (or object) for you"),
    409: s.ErrorSerializer,
}
STARTED = {202: s.JobSerializer, **ERRORS}


def idempotency_key(request) -> str:
    """The request's Idempotency-Key header ("" when none); a 400 past 200 characters."""
    key = request.headers.get("Idempotency-Key", "")
    if len(key) > 200:
        raise ValidationError({"Idempotency-Key": "at most 200 characters"})
    return key


class StageViewSet(ThrottleFailedSignIns, viewsets.GenericViewSet):
    """A project's stage: `project()` is the project checked for the action (`write_actions`
    need an engineer or an admin), `start()` starts a job for it."""

    # A preview is a read (a dry run that writes nothing): auditors may run it, as on the pages.
    write_actions: frozenset[str] = frozenset({"create", "cancel", "acknowledge"})

    def project(self) -> Project:
        if not hasattr(self, "_project"):
            write = self.action in self.write_actions
            self._project = selectors.access_project(
                self.request.user, self.kwargs["project_pk"], write=write
            )
        return self._project

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular building the schema
            return self.queryset
        return self.rows(self.project())

    def rows(self, project: Project):
        raise NotImplementedError

    def get_object(self):
        """The row of the URL's id in this project; an id that is no number is a 404 too."""
        try:
            pk = int(str(self.kwargs["pk"]))
        except ValueError:
            pk = None
        found = None if pk is None else self.get_queryset().filter(pk=pk).first()
        if found is None:
            raise Http404(f"no such {self.queryset.model._meta.verbose_name} in this project")
        return found

    def start(self, kind: str, params: dict) -> Response:
        key = idempotency_key(self.request)
        job = jobs.start_job(
            kind, project=self.project(), params=params, user=self.request.user, idempotency_key=key
        )
        data = s.JobSerializer(job, context={"request": self.request}).data
        return Response(data, status=status.HTTP_202_ACCEPTED)

    def form(self, serializer_class) -> dict:
        form = serializer_class(data=self.request.data)
        form.is_valid(raise_exception=True)
        return dict(form.validated_data)

    def perform_content_negotiation(self, request, force=False):
        """An Accept header no renderer offers gets the default (JSON), not a 406: downloads
        answer with their own file type whatever was asked."""
        return super().perform_content_negotiation(request, force=True)

    def finalize_response(self, request, response, *args, **kwargs):
        """Errors are JSON, even on a request for a report's PDF or HTML."""
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(response, Response) and response.status_code >= 400:
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = JSONRenderer.media_type
        return response


class RouteViewSet(StageViewSet):
    """GET: the routing policy versions used, with their decisions' counts. POST: route the
    judged pairs without a decision (a background job) with an inline policy, a stored
    version, or the project's policy."""

    queryset = RoutingPolicyVersion.objects.none()
    serializer_class = s.RoutingPolicyVersionSerializer
    pagination_class = None

    def rows(self, project):
        return selectors.policy_versions(project)

    @extend_schema(responses=s.RoutingPolicyVersionSerializer(many=True))
    def list(self, request, *args, **kwargs):
        """The routing policy versions used here, newest first, with how many pairs each decided."""
        return Response(self.get_serializer(self.get_queryset(), many=True).data)

    @extend_schema(request=s.RouteRequestSerializer, responses=STARTED, parameters=[IDEMPOTENCY_KEY])
    def create(self, request, *args, **kwargs):
        """Route the judged pairs without a decision under the policy (a job): an inline `policy`,
        a stored `version` re-applied, or neither (the project's). Engineers only."""
        project = self.project()
        params = self.form(s.RouteRequestSerializer)
        params = {"policy": params.get("policy"), "version": params.get("version")}
        # checked now, not when the job runs: a bad policy is a 400, nothing judged yet a 409
        routing.resolve_policy(project, params["policy"], params["version"])
        selectors.project_judges(project)
        return self.start("route", params)


class SyncViewSet(StageViewSet):
    """POST: push the pairs routing sent to humans to the project's Argilla workspace and pull
    the annotators' labels back (a background job)."""

    queryset = Project.objects.none()
    serializer_class = s.JobSerializer  # what OPTIONS describes: the job a POST starts

    @extend_schema(request=None, responses=STARTED, parameters=[IDEMPOTENCY_KEY])
    def create(self, request, *args, **kwargs):
        """Push what routing sent to humans to Argilla and pull the labels back (a job). Engineers only."""
        self.project()
        return self.start("sync_argilla", {})


class ReportHTML(BaseRenderer):
    media_type = "text/html"
    format = "html"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class ReportPDF(BaseRenderer):
    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class AuditViewSet(StageViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Stored audit reports, newest first (their trend over time); POST audits the judges now
    (a background job that stores a report). A report reads as JSON, HTML or PDF
    (`?format=html`, `?format=pdf`, or the Accept header)."""

    queryset = AuditReport.objects.none()
    serializer_class = s.AuditReportSerializer

    def rows(self, project):
        return (
            AuditReport.objects.filter(project=project)
            .select_related("project")
            .order_by("-created_at", "-pk")
        )

    def get_serializer_class(self):
        return s.AuditReportDetailSerializer if self.action == "retrieve" else s.AuditReportSerializer

    def get_renderers(self):
        if self.action == "retrieve":
            return [JSONRenderer(), ReportHTML(), ReportPDF()]
        return super().get_renderers()

    @extend_schema(
        responses={
            (200, "application/json"): s.AuditReportDetailSerializer,
            (200, "text/html"): OpenApiTypes.STR,
            (200, "application/pdf"): OpenApiTypes.BINARY,
            404: ERRORS[404],
        }
    )
    def retrieve(self, request, *args, **kwargs):
        """One stored report: JSON (with the full report and its calibration map), or the rendered
        report as HTML or PDF (`?format=html|pdf` or the Accept header)."""
        report = self.get_object()
        fmt = request.accepted_renderer.format
        if fmt == "json":
            return Response(self.get_serializer(report).data)
        rendered = audits.render(report, fmt)
        name = audits.file_name(report, fmt)
        if fmt == "pdf":
            response = HttpResponse(rendered, content_type="application/pdf")
            response["Content-Disposition"] = f'attachment; filename="{name}"'
            return response
        response = HttpResponse(rendered, content_type="text/html; charset=utf-8")
        # The report's own HTML, shown as a document: nothing in it may run or load.
        response["Content-Security-Policy"] = audits.REPORT_CSP
        return response

    @extend_schema(request=s.AuditRequestSerializer, responses=STARTED, parameters=[IDEMPOTENCY_KEY])
    def create(self, request, *args, **kwargs):
        """Audit one judge (or every judge, pooled) against the human labels now and store the report
        (a job; its result names the report). Engineers only."""
        project = self.project()
        judge = self.form(s.AuditRequestSerializer).get("judge") or None
        audits.check_judge(project, judge)  # nothing judged yet is a 409, an unknown judge a 400, now
        return self.start("audit", {"judge": judge})


class DatasetViewSet(StageViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Dataset versions, newest first. POST builds one (a background export job); POST
    preview/ is the dry run (what the policy would produce, nothing written); a version's
    files download from download/<jsonl|parquet|csv>/."""

    queryset = DatasetVersion.objects.none()
    serializer_class = s.DatasetVersionSerializer

    def rows(self, project):
        return DatasetVersion.objects.filter(project=project).order_by("-created_at", "-pk")

    @extend_schema(request=s.DatasetRequestSerializer, responses=STARTED, parameters=[IDEMPOTENCY_KEY])
    def create(self, request, *args, **kwargs):
        """Blend and export a dataset version (a job; its result has the version's id and hash).
        Engineers only."""
        self.project()
        params = self.form(s.DatasetRequestSerializer)
        datasets.check_policy(params.get("policy"))  # a bad key is a 400 now, not a failed job
        datasets.check_judge(self.project(), params.get("judge"))
        return self.start("export", params)

    @extend_schema(
        request=s.DatasetPreviewRequestSerializer, responses={200: s.DatasetPreviewSerializer, **ERRORS}
    )
    @action(detail=False, methods=["post"])
    def preview(self, request, *args, **kwargs):
        """The dry run: what a blend policy would produce now (rows by source, drops by reason, the
        weight histogram), nothing written. Engineers only."""
        params = self.form(s.DatasetPreviewRequestSerializer)
        return Response(datasets.preview(self.project(), params.get("policy"), params.get("judge")))

    @extend_schema(
        parameters=[OpenApiParameter("fmt", str, OpenApiParameter.PATH, enum=sorted(s.DOWNLOAD_FORMATS))],
        responses={
            **{(200, media): OpenApiTypes.BINARY for media in s.DOWNLOAD_FORMATS.values()},
            404: ERRORS[404],
        },
    )
    @action(detail=True, methods=["get"], url_path=r"download/(?P<fmt>jsonl|parquet|csv)")
    def download(self, request, *args, fmt: str = "jsonl", **kwargs):
        """The version's file in that format, as exported (its rows are what training reads)."""
        path, name = datasets.version_file(self.get_object(), fmt)
        return FileResponse(
            open(path, "rb"),
            as_attachment=True,
            filename=name,
            content_type=s.DOWNLOAD_FORMATS[fmt],
        )


class TrainingRunViewSet(StageViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Training runs, newest first; a run's detail has its metrics per step, artifacts and
    evaluation. POST starts one on a dataset version (a background job on the `gpu` queue);
    POST <id>/cancel/ stops a running one (it keeps a checkpoint)."""

    queryset = TrainingRun.objects.none()
    serializer_class = s.TrainingRunSerializer

    def rows(self, project):
        return (
            TrainingRun.objects.filter(project=project)
            .select_related("dataset")
            .order_by("-created_at", "-pk")
        )

    def get_serializer_class(self):
        return s.TrainingRunDetailSerializer if self.action == "retrieve" else s.TrainingRunSerializer

    @extend_schema(request=s.TrainingRequestSerializer, responses=STARTED, parameters=[IDEMPOTENCY_KEY])
    def create(self, request, *args, **kwargs):
        """Train `method` on a dataset version with `config` (a job on the `gpu` queue; its result
        names the run). Engineers only."""
        project = self.project()
        params = self.form(s.TrainingRequestSerializer)
        version = datasets.find_version(project, params["dataset"])
        training.check_config(params["method"], params["config"], project=project)  # a bad key is a 400 now
        return self.start("train", {**params, "dataset": version.version})

    @extend_schema(request=None, responses={200: s.JobSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def cancel(self, request, *args, **kwargs):
        """Stop a running run (it saves a checkpoint and ends `cancelled`); answers its job. A run
        that is not running is a 409. Engineers only."""
        job = training.cancel_run(self.get_object())
        return Response(s.JobSerializer(job, context={"request": request}).data)


class AlertViewSet(StageViewSet, mixins.ListModelMixin):
    """What an engineer must see, newest first (`?open=1`: not acknowledged yet); POST
    <id>/acknowledge/ marks one seen."""

    queryset = Alert.objects.none()
    serializer_class = s.AlertSerializer

    def rows(self, project):
        alerts = Alert.objects.filter(project=project).select_related("acknowledged_by")
        if self.request.query_params.get("open") == "1":
            alerts = alerts.filter(acknowledged_at__isnull=True)
        return alerts.order_by("-created_at", "-pk")

    @extend_schema(parameters=[OpenApiParameter("open", str, enum=["1"], description="only open alerts")])
    def list(self, request, *args, **kwargs):
        """The project's alerts, newest first."""
        return super().list(request, *args, **kwargs)

    @extend_schema(request=None, responses={200: s.AlertSerializer, **ERRORS})
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, *args, **kwargs):
        """Mark the alert seen (who and when are kept; again changes nothing). Engineers only."""
        alert = services.acknowledge_alert(self.get_object(), request.user)
        return Response(self.get_serializer(alert).data)
