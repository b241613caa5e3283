from django import forms

from tandem.api.serializers import UPLOAD_FORMATS


class ImportForm(forms.Form):
    file = forms.FileField()
    format = forms.ChoiceField(choices=[(f, f) for f in UPLOAD_FORMATS], initial="pairs")
    skip_invalid = forms.BooleanField(required=False, label="Skip invalid rows")


class JudgeForm(forms.Form):
    judge = forms.CharField(initial="smollm2", help_text="a built-in judge or one of the project's")
    limit = forms.IntegerField(required=False, min_value=1, help_text="only the first N pairs")
