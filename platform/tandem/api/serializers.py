from rest_framework import serializers

from labeling.importers import FORMATS
from tandem.core import configs, jobs, roles
from tandem.core.models import (
    Alert,
    AuditReport,
    DatasetVersion,
    HumanLabel,
    Job,
    Judgment,
    Membership,
    Pair,
    Project,
    TrainingRun,
)

# Folder formats (llmbar, pandalm) are read from the server's disk by the CLI, not uploaded.
UPLOAD_FORMATS = sorted(f for f in FORMATS if f not in {"llmbar", "pandalm"})


SECRET_NAMES = ("api_key", "apikey", "secret", "password", "token")


def _inline_secret(value, where: str = "") -> str | None:
    """The dotted path of the first string under a key named like a secret, if any."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, item in items:
        path = f"{where}.{key}" if where else str(key)
        name = str(key).lower()
        if (
            isinstance(item, str)
            and item
            and any(s in name for s in SECRET_NAMES)
            and not name.endswith("_env")
        ):
            return path
        if found := _inline_secret(item, path):
            return found
    return None


class ProjectSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ["id", "name", "description", "rubric", "judge_config", "routing_config", "created_at"]
        read_only_fields = ["id", "created_at"]

    def _object(self, value, name):
        if not isinstance(value, dict):
            raise serializers.ValidationError(f"{name} must be a JSON object")
        return value

    def validate_judge_config(self, value):
        self._object(value, "judge_config")
        if found := _inline_secret(value):
            raise serializers.ValidationError(
                f"judge_config: {found} holds a key; keys stay out of the database (every read of the "
                "project would show it): an operator puts it in the workers' environment and defines a "
                "judge provider that names that variable (TANDEM_JUDGE_PROVIDERS); the judge names the "
                "provider in params.provider"
            )
        _checked(configs.check_judge_config, value)
        return value

    def validate_routing_config(self, value):
        _checked(configs.check_routing_config, self._object(value, "routing_config"))
        return value


def _checked(check, value) -> None:
    """`check(value)`, its ConfigError as a 400 that names the key, the value and the options."""
    try:
        check(value)
    except configs.ConfigError as error:
        raise serializers.ValidationError({"key": error.key, "message": str(error)}) from error


class JudgmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Judgment
        exclude = ["pair"]


class HumanLabelSerializer(serializers.ModelSerializer):
    class Meta:
        model = HumanLabel
        exclude = ["pair"]


class PairSerializer(serializers.ModelSerializer):
    class Meta:
        model = Pair
        fields = [
            "id",
            "prompt",
            "response_a",
            "response_b",
            "model_a",
            "model_b",
            "category",
            "metadata",
            "source",
            "external_id",
            "content_hash",
            "created_at",
            "gold",  # a gold item's known answer, "" for an ordinary pair (annotators never see it)
        ]


class PairDetailSerializer(PairSerializer):
    judgments = JudgmentSerializer(many=True, read_only=True)
    human_labels = HumanLabelSerializer(many=True, read_only=True)

    class Meta(PairSerializer.Meta):
        fields = [*PairSerializer.Meta.fields, "judgments", "human_labels"]


class ImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField()
    format = serializers.ChoiceField(choices=UPLOAD_FORMATS, default="pairs")
    skip_invalid = serializers.BooleanField(default=False)


class JobSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField(
        help_text="why the job failed: in full for the project's engineers, a summary for auditors"
    )

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "project",
            "status",
            "progress",
            "result",
            "error",
            "cancel_requested",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_progress(self, job) -> dict:
        done, total = jobs.live_progress(job)
        return {"done": done, "total": total}

    def get_error(self, job) -> str:
        request = self.context.get("request")
        known = self.context.setdefault("roles", {})  # one query per project, not per job of a list
        if job.project_id not in known:
            known[job.project_id] = roles.role_on(request.user if request else None, job.project_id)
        return jobs.error_for(job, known[job.project_id])


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "username", "role", "created_at"]
        read_only_fields = fields


class MemberRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, help_text="an existing user (manage.py create_user)")
    role = serializers.ChoiceField(choices=Membership.Role.choices, help_text="replaces their role here")


class StatsSerializer(serializers.Serializer):
    pairs = serializers.IntegerField()
    judgments = serializers.IntegerField()
    by_judge = serializers.ListField(child=serializers.DictField())
    human_labels = serializers.IntegerField()
    human_labeled_pairs = serializers.IntegerField()
    annotators = serializers.IntegerField()
    alerts = serializers.ListField(child=serializers.CharField())


class JudgeRequestSerializer(serializers.Serializer):
    judge = serializers.CharField(default="smollm2", help_text="built-in name or a judge of the project")
    limit = serializers.IntegerField(required=False, min_value=1)
    escalated = serializers.BooleanField(
        required=False,
        help_text="guarantee mode: judge only the pairs the cascade's earlier judges did not keep "
        "(those routing left waiting for this judge) and the blind audit pairs",
    )


# The pipeline's stages (route, sync, audits, datasets, training runs, alerts).


class ErrorSerializer(serializers.Serializer):
    """A service error as every endpoint answers it (tandem.api.errors)."""

    code = serializers.CharField(help_text="stable: not_found, conflict, config_invalid, not_ready, ...")
    message = serializers.CharField(help_text="what went wrong and what to do")
    key = serializers.CharField(required=False, help_text="the dotted key of a bad config value")


class RouteRequestSerializer(serializers.Serializer):
    policy = serializers.JSONField(
        required=False, allow_null=True, help_text="an inline routing policy (default: the project's)"
    )
    version = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="re-apply a stored policy version instead"
    )

    def validate(self, data):
        if data.get("policy") is not None and data.get("version") is not None:
            raise serializers.ValidationError("give either `policy` or `version`, not both")
        return data


class RoutingPolicyVersionSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    policy = serializers.JSONField()
    created_at = serializers.DateTimeField()
    decisions = serializers.IntegerField(source="n_decisions", help_text="pairs decided under this version")
    human = serializers.IntegerField(source="n_human", help_text="of them, sent to humans")
    ai_only = serializers.IntegerField(source="n_ai_only", help_text="of them, labeled by the AI alone")


class AuditRequestSerializer(serializers.Serializer):
    judge = serializers.CharField(
        required=False, allow_null=True, max_length=200, help_text="one judge (default: every judge, pooled)"
    )


class AuditReportSerializer(serializers.ModelSerializer):
    calibrated = serializers.SerializerMethodField(help_text="whether a calibration map was fitted")

    class Meta:
        model = AuditReport
        fields = ["id", "judge", "created_at", "calibrated"]

    def get_calibrated(self, report) -> bool:
        return report.calibration is not None


class AuditReportDetailSerializer(AuditReportSerializer):
    class Meta(AuditReportSerializer.Meta):
        fields = [*AuditReportSerializer.Meta.fields, "calibration", "report"]


EXPORT_FORMATS = ["jsonl", "parquet", "csv", "hf"]
DOWNLOAD_FORMATS = {
    "jsonl": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
    "csv": "text/csv",
}


class DatasetPreviewRequestSerializer(serializers.Serializer):
    policy = serializers.JSONField(
        required=False, allow_null=True, help_text="a blend policy (default: the built-in one)"
    )
    judge = serializers.CharField(
        required=False, allow_null=True, max_length=200, help_text="whose verdicts (default: routing's)"
    )

    def validate_policy(self, value):
        if value is not None and not isinstance(value, dict):
            raise serializers.ValidationError("the blend policy must be a JSON object")
        return value


class DatasetRequestSerializer(DatasetPreviewRequestSerializer):
    formats = serializers.ListField(
        child=serializers.ChoiceField(choices=EXPORT_FORMATS),
        default=["jsonl"],
        max_length=len(EXPORT_FORMATS),
        help_text="files to write (jsonl is always written: training reads it)",
    )


class DatasetPreviewSerializer(serializers.Serializer):
    policy_version = serializers.CharField()
    pairs_in = serializers.IntegerField()
    rows_out = serializers.IntegerField()
    by_source = serializers.DictField(child=serializers.IntegerField(), help_text="rows by source")
    dropped = serializers.DictField(child=serializers.IntegerField(), help_text="pairs dropped, by reason")
    disagreements = serializers.IntegerField(help_text="pairs where humans and the AI disagree")
    weight_histogram = serializers.DictField(child=serializers.IntegerField())
    judge = serializers.CharField(allow_null=True)
    calibrated = serializers.BooleanField(help_text="whether an audit's calibration map was applied")
    text = serializers.CharField(help_text="the same, in lines")


class DatasetVersionSerializer(serializers.ModelSerializer):
    formats = serializers.SerializerMethodField(
        help_text="downloadable files: /datasets/{id}/download/{fmt}/"
    )

    class Meta:
        model = DatasetVersion
        fields = [
            "id",
            "version",
            "n_rows",
            "counts",
            "human_labels",
            "judge",
            "policy",
            "formats",
            "created_at",
        ]

    def get_formats(self, version) -> list[str]:
        return sorted(fmt for fmt in version.files if fmt in DOWNLOAD_FORMATS)


class TrainingRequestSerializer(serializers.Serializer):
    dataset = serializers.CharField(
        max_length=64, help_text="a dataset version: its id or a prefix of its hash"
    )
    method = serializers.ChoiceField(choices=["reward", "dpo", "ppo", "rloo", "grpo"])
    config = serializers.DictField(help_text="the method's training config (model, max_steps, ...)")


class TrainingRunSerializer(serializers.ModelSerializer):
    dataset = serializers.CharField(source="dataset.version", read_only=True)
    # A plain string: a second enum named `status` beside the job's would collide in the schema.
    status = serializers.CharField(read_only=True, help_text="running, succeeded, failed or cancelled")
    error = serializers.SerializerMethodField(
        help_text="why the run failed: in full for the project's engineers, a summary for auditors"
    )
    last_step = serializers.SerializerMethodField(help_text="the latest training step logged (0: none yet)")

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "dataset",
            "method",
            "status",
            "last_step",
            "final_eval",
            "error",
            "created_at",
            "finished_at",
        ]

    def get_last_step(self, run) -> int:
        return int(run.metrics[-1].get("step", 0)) if run.metrics else 0

    def writer(self, run) -> bool:
        """Whether the requesting user is an engineer of the run's project (or an admin)."""
        request = self.context.get("request")
        known = self.context.setdefault("roles", {})  # one query per project, not per run of a list
        if run.project_id not in known:
            known[run.project_id] = roles.role_on(request.user if request else None, run.project_id)
        return roles.can_write(known[run.project_id])

    def get_error(self, run) -> str:
        if not run.error:
            return ""
        return run.error if self.writer(run) else "the run failed; the project's engineers see the reason"


class TrainingRunDetailSerializer(TrainingRunSerializer):
    artifacts = serializers.SerializerMethodField(
        help_text="Each artifact's path on the server; auditors get the names, paths empty (as on the pages)."
    )

    class Meta(TrainingRunSerializer.Meta):
        fields = [*TrainingRunSerializer.Meta.fields, "config", "metrics", "artifacts"]

    def get_artifacts(self, run) -> dict[str, str]:
        writer = self.writer(run)
        return {name: (path if writer else "") for name, path in (run.artifacts or {}).items()}


class AlertSerializer(serializers.ModelSerializer):
    acknowledged_by = serializers.CharField(
        source="acknowledged_by.username", read_only=True, allow_null=True
    )

    class Meta:
        model = Alert
        fields = ["id", "kind", "message", "data", "created_at", "acknowledged_at", "acknowledged_by"]
