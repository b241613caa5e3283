"""Tandem's rows. Models hold fields, constraints and `__str__`; writes live in services.py.

Choices are in the pair's own terms (`a` = response_a) everywhere; a Judgment's `p_first` is
the probability that the response shown *first* is better, so it is read together with
`order`. Later stages add RoutingDecision, DatasetVersion, TrainingRun and AuditReport beside
these, each pointing at Project or Pair.
"""

from django.conf import settings
from django.db import models


class Choice(models.TextChoices):
    A = "a", "response A"
    B = "b", "response B"
    TIE = "tie", "tie"


class Project(models.Model):
    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    rubric = models.TextField(
        blank=True, help_text="The principles (rubric or constitution) the judge and humans apply."
    )
    judge_config = models.JSONField(default=dict, blank=True)
    routing_config = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """The admin's check of both configs (the API checks them in its serializer)."""
        from django.core.exceptions import ValidationError

        from .configs import ConfigError, check_judge_config, check_routing_config

        for field, check in (("judge_config", check_judge_config), ("routing_config", check_routing_config)):
            try:
                check(getattr(self, field) or {})
            except ConfigError as error:
                raise ValidationError({field: str(error)}) from error


class Membership(models.Model):
    """A user's role on one project: engineers and auditors act only on their projects
    (admins, superusers, see all). Annotators work in the project's Argilla workspace."""

    class Role(models.TextChoices):
        ENGINEER = "engineer", "engineer"
        AUDITOR = "auditor", "auditor"
        ANNOTATOR = "annotator", "annotator"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "project"], name="membership_unique_user")]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} on {self.project}"


class Pair(models.Model):
    # indexed by (project, id) below instead of by project alone: every stage pages through a
    # project's pairs in id order (keyset), and that index gives each page in id order, so the
    # page's LIMIT ends the read even where the planner's statistics predate a large import
    # (with a lone project index it then read and sorted the whole project per page: quadratic).
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="pairs", db_index=False)
    prompt = models.TextField()
    response_a = models.TextField()
    response_b = models.TextField()
    model_a = models.CharField(max_length=200, blank=True)
    model_b = models.CharField(max_length=200, blank=True)
    category = models.CharField(max_length=100, blank=True, db_index=True)
    metadata = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=300, blank=True, help_text="Format and file it came from.")
    external_id = models.CharField(max_length=300, blank=True)
    content_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    injection_scan = models.JSONField(
        null=True,
        blank=True,
        help_text='The injection detector\'s result: {"detector": its version, "reason": "" or why}.',
    )
    gold = models.CharField(
        max_length=3,
        choices=Choice.choices,
        blank=True,
        help_text="A gold item's known answer (blank: an ordinary pair); see core.gold.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "content_hash"], name="pair_unique_content")
        ]
        indexes = [
            models.Index(fields=["project", "external_id"]),
            models.Index(fields=["project", "id"], name="pair_project_keyset"),
        ]

    def __str__(self) -> str:
        return f"pair {self.pk} of {self.project_id}"


class Judgment(models.Model):
    class Order(models.TextChoices):
        AB = "ab", "A shown first"
        BA = "ba", "B shown first"

    class Status(models.TextChoices):
        OK = "ok", "ok"
        UNPARSABLE = "unparsable", "unparsable"
        ERROR = "error", "error"

    # no index of its own: the unique constraint below starts with pair_id and serves every
    # lookup by pair; a second index was only write cost at a million pairs
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="judgments", db_index=False)
    judge = models.CharField(max_length=200, help_text="Judge configuration name.")
    config_hash = models.CharField(max_length=64, help_text="Hash of the full judge config.")
    backend = models.CharField(max_length=50)
    model = models.CharField(max_length=300, blank=True)
    template = models.CharField(max_length=200, blank=True)
    template_hash = models.CharField(max_length=64, blank=True)
    order = models.CharField(max_length=2, choices=Order.choices)
    p_first = models.FloatField(
        null=True, blank=True, help_text="Probability the first-shown response is better."
    )
    choice = models.CharField(max_length=3, choices=Choice.choices, blank=True)
    rationale = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    error_message = models.TextField(blank=True)
    params = models.JSONField(default=dict, blank=True, help_text="Sampling parameters.")
    detail = models.JSONField(default=dict, blank=True, help_text="Other provenance.")
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    cache_key = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["pair", "judge", "config_hash", "order"], name="judgment_unique_call"
            ),
            models.CheckConstraint(
                condition=models.Q(p_first__isnull=True) | models.Q(p_first__gte=0.0, p_first__lte=1.0),
                name="judgment_p_first_in_unit_interval",
            ),
        ]
        indexes = [models.Index(fields=["judge", "status"])]

    def __str__(self) -> str:
        return f"{self.judge} on pair {self.pair_id} ({self.order}): {self.choice or self.status}"


class HumanLabel(models.Model):
    class Source(models.TextChoices):
        ARGILLA = "argilla", "Argilla"
        IMPORTED = "imported", "imported"
        WEB = "web", "web"

    # no index of its own: the unique constraint below starts with pair_id and serves every
    # lookup by pair; a second index was only write cost at a million pairs
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="human_labels", db_index=False)
    annotator = models.CharField(max_length=200)
    choice = models.CharField(max_length=3, choices=Choice.choices)
    rationale = models.TextField(blank=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    external_id = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pair", "annotator", "source"], name="humanlabel_unique_vote")
        ]

    def __str__(self) -> str:
        return f"{self.annotator} on pair {self.pair_id}: {self.choice}"


class Job(models.Model):
    """A background run of one service function, with progress and a cancel flag.

    The CLI, the API and the pages start the same job kinds; the worker polls
    `cancel_requested` between batches and the job ends `cancelled` with nothing half-done.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"
        CANCELLED = "cancelled", "cancelled"

    kind = models.CharField(max_length=50)
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs")
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress_done = models.PositiveBigIntegerField(default=0)
    progress_total = models.PositiveBigIntegerField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(
        max_length=200, blank=True, help_text="The worker running it (Celery node name)."
    )
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life from its worker while running."
    )
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="shards",
        help_text="The job this one is a shard of: a fanned-out job's progress and cancel add up here.",
    )
    idempotency_key = models.CharField(
        max_length=200,
        blank=True,
        help_text="The client's Idempotency-Key: a retried POST returns this job instead of a second one.",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["created_by", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="job_idempotency_key_per_user",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} ({self.status})"


class JudgeCall(models.Model):
    """The judge call cache: one reply per full request (model, messages, params), so a re-run
    never pays for the same call twice, whichever pair or project asked first."""

    key = models.CharField(max_length=64, unique=True)
    response = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.key


class RoutingPolicyVersion(models.Model):
    """A routing policy as it was used; a version never changes once decisions cite it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="routing_policies")
    version = models.PositiveIntegerField()
    policy = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="routing_policy_unique_version")
        ]

    def __str__(self) -> str:
        return f"routing policy v{self.version} of {self.project_id}"


class RoutingDecision(models.Model):
    # no index of its own: the unique constraint below starts with pair_id and serves every
    # lookup by pair; a second index was only write cost at a million pairs
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="routing_decisions", db_index=False)
    policy = models.ForeignKey(RoutingPolicyVersion, on_delete=models.PROTECT, related_name="decisions")
    judges = models.JSONField(default=list, help_text="The judges whose verdicts were routed on.")
    human = models.BooleanField(db_index=True)
    reasons = models.JSONField(default=list)
    priority = models.FloatField(default=0.0)
    blind = models.BooleanField(default=False, help_text="Audit item: the AI suggestion is hidden.")
    over_budget = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pair", "policy"], name="routing_decision_unique")]

    def __str__(self) -> str:
        return f"pair {self.pair_id}: {'human' if self.human else 'AI only'} {self.reasons}"


class CascadeWait(models.Model):
    """A pair a guarantee-mode route left undecided under `policy` (core.guarantee): it waits for
    cascade judge `judge` to judge it (`judge --escalated` judges exactly these), or, with `judge`
    blank, for the cascade's calibration to be complete. Either way the route offered it to that
    version's audit draw, so a later route of the version never draws it again. Deleted when the
    pair is decided under the version."""

    # no index of its own: the unique constraint below starts with pair_id and serves every
    # lookup by pair; a second index was only write cost at a million pairs
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="cascade_waits", db_index=False)
    policy = models.ForeignKey(RoutingPolicyVersion, on_delete=models.CASCADE, related_name="waits")
    judge = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pair", "policy"], name="cascade_wait_unique")]
        indexes = [models.Index(fields=["policy", "judge"])]

    def __str__(self) -> str:
        return f"pair {self.pair_id} waits for {self.judge or 'the calibration'} (policy {self.policy_id})"


class ArgillaRecord(models.Model):
    """A pair pushed to an Argilla dataset (so a stopped push resumes without duplicates)."""

    # no index of its own: the unique constraint below starts with pair_id and serves every
    # lookup by pair; a second index was only write cost at a million pairs
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="argilla_records", db_index=False)
    dataset = models.CharField(max_length=200)
    dataset_id = models.CharField(
        max_length=64, blank=True, db_index=True, help_text="Argilla's id of the dataset (webhooks carry it)."
    )
    blind = models.BooleanField(default=False)
    suggestion_shown = models.BooleanField(
        default=False, help_text="Whether the annotator saw the AI suggestion (the anchoring measure)."
    )
    pushed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pair", "dataset"], name="argilla_record_unique")]

    def __str__(self) -> str:
        return f"pair {self.pair_id} in {self.dataset}"


class AuditReport(models.Model):
    """An audit as it was computed; its calibration map is what a blend may apply."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="audit_reports")
    judge = models.CharField(max_length=200, blank=True, help_text="Empty: every judge, pooled.")
    report = models.JSONField()
    calibration = models.JSONField(null=True, blank=True, help_text="The fitted map, when one could be fit.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"audit of {self.judge or 'all judges'} ({self.created_at:%Y-%m-%d %H:%M})"


class DatasetVersion(models.Model):
    """An immutable, content-hashed blend of what the project knew: rows, policy, provenance."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="dataset_versions")
    version = models.CharField(max_length=64, help_text="sha256 of the rows.")
    policy = models.JSONField()
    judge = models.CharField(max_length=200, blank=True)
    calibration = models.ForeignKey(AuditReport, null=True, blank=True, on_delete=models.SET_NULL)
    n_rows = models.PositiveIntegerField()
    counts = models.JSONField(default=dict, help_text="Rows by source, drops by reason, weight histogram.")
    human_labels = models.PositiveIntegerField(default=0)
    files = models.JSONField(default=dict, help_text="Exported files by format.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["project", "version"], name="dataset_version_unique")]

    def __str__(self) -> str:
        return f"{self.project_id}:{self.version[:12]}"


class TrainingRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"
        CANCELLED = "cancelled", "cancelled"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="training_runs")
    dataset = models.ForeignKey(DatasetVersion, on_delete=models.PROTECT, related_name="training_runs")
    method = models.CharField(max_length=20)
    config = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    metrics = models.JSONField(default=list, help_text="Metrics per logged step.")
    final_eval = models.JSONField(default=dict)
    artifacts = models.JSONField(default=dict)
    output_dir = models.CharField(max_length=500)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.method} run {self.pk} ({self.status})"


class Alert(models.Model):
    """Something an engineer must see: e.g. routing found a judge unreliable on a slice."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=50)
    message = models.TextField()
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    acknowledged_at = models.DateTimeField(
        null=True, blank=True, help_text="When an engineer marked it seen (null: still open)."
    )
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.message
