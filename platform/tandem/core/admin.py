"""The Django admin (admins only): browse every row, manage each project's members, import a
file into a project with the same service and the same upload limits as the pages."""

import tempfile
from pathlib import Path

from django import forms
from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse

from labeling.importers import FORMATS

from . import services, uploads
from .models import HumanLabel, Job, Judgment, Membership, Pair, Project


class ImportForm(forms.Form):
    file = forms.FileField()
    format = forms.ChoiceField(choices=[(f, f) for f in sorted(FORMATS) if f not in {"llmbar", "pandalm"}])
    skip_invalid = forms.BooleanField(required=False)


class MembershipInline(admin.TabularInline):
    """A project's members and their roles (engineer, auditor, annotator) on its admin page."""

    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "project__name"]
    list_select_related = ["user", "project"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]

    def get_urls(self):
        view = self.admin_site.admin_view(self.import_view)
        return [path("<int:pk>/import/", view, name="core_project_import"), *super().get_urls()]

    def import_view(self, request, pk):
        project = get_object_or_404(Project, pk=pk)
        if not request.user.has_perm("core.add_pair"):
            messages.error(request, "You need the engineer role to import pairs.")
            return redirect(reverse("admin:core_project_change", args=[pk]))
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            self._import(request, project, form.cleaned_data)
            return redirect(reverse("admin:core_project_change", args=[pk]))
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "project": project,
            "title": f"Import pairs into {project.name}",
        }
        return render(request, "admin/core/project/import.html", context)

    def _import(self, request, project, data):
        upload = data["file"]
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / Path(upload.name).name
            with target.open("wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
            try:
                uploads.check_upload(target)
                summary = services.import_pairs(
                    project, target, data["format"], skip_invalid=data["skip_invalid"]
                )
            except (services.ImportFailed, uploads.UploadRefused) as err:
                messages.error(request, err.message)
                return
        messages.success(request, summary.line().replace(str(target), upload.name))


@admin.register(Pair)
class PairAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "category", "model_a", "model_b", "source", "created_at"]
    list_filter = ["project", "category"]
    search_fields = ["prompt", "external_id"]
    list_select_related = ["project"]
    show_full_result_count = False


@admin.register(Judgment)
class JudgmentAdmin(admin.ModelAdmin):
    list_display = ["id", "pair_id", "judge", "order", "choice", "p_first", "status", "created_at"]
    list_filter = ["judge", "status", "order"]
    show_full_result_count = False


@admin.register(HumanLabel)
class HumanLabelAdmin(admin.ModelAdmin):
    list_display = ["id", "pair_id", "annotator", "choice", "source", "created_at"]
    list_filter = ["source"]
    show_full_result_count = False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "project", "status", "progress_done", "created_at", "finished_at"]
    list_filter = ["kind", "status"]
