from rest_framework import serializers

from labeling.importers import FORMATS
from tandem.core import configs, jobs, roles
from tandem.core.models import HumanLabel, Job, Judgment, Membership, Pair, Project

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
