from django.urls import path, re_path

from .views import audit, common, datasets, pairs, project, routing, training

urlpatterns = [
    path("", project.home, name="home"),
    path("projects/new/", project.project_create, name="project-create"),
    path("projects/<int:pk>/", project.project_detail, name="project-detail"),
    path("projects/<int:pk>/settings/", project.project_settings, name="project-settings"),
    path("projects/<int:pk>/jobs/", common.jobs_panel, name="jobs-panel"),
    path("projects/<int:pk>/import/", project.start_import, name="project-import"),
    path("projects/<int:pk>/judge/", project.start_judge, name="project-judge"),
    path("projects/<int:pk>/sync/", project.start_sync, name="project-sync"),
    path(
        "projects/<int:pk>/alerts/<int:alert_id>/acknowledge/",
        project.alert_acknowledge,
        name="alert-acknowledge",
    ),
    path("projects/<int:pk>/pairs/", pairs.pair_list, name="pair-list"),
    path("projects/<int:pk>/pairs/<int:pair_id>/", pairs.pair_detail, name="pair-detail"),
    path("projects/<int:pk>/routing/", routing.routing_page, name="routing"),
    path("projects/<int:pk>/routing/route/", routing.start_route, name="routing-route"),
    path("projects/<int:pk>/audit/", audit.audit_page, name="audit"),
    path("projects/<int:pk>/audit/create/", audit.create_audit, name="audit-create"),
    re_path(
        r"^projects/(?P<pk>\d+)/audit/reports/(?P<report_id>\d+)\.(?P<fmt>json|html|pdf)$",
        audit.stored_report,
        name="audit-report",
    ),
    re_path(
        r"^projects/(?P<pk>\d+)/audit/report\.(?P<fmt>json|html|pdf)$",
        audit.audit_download,
        name="audit-download",
    ),
    path("projects/<int:pk>/datasets/", datasets.datasets_page, name="datasets"),
    path("projects/<int:pk>/datasets/build/", datasets.start_export, name="datasets-build"),
    re_path(
        r"^projects/(?P<pk>\d+)/datasets/(?P<version>[0-9a-f]{64})/download\.(?P<fmt>jsonl|parquet|csv)$",
        datasets.dataset_download,
        name="dataset-download",
    ),
    path("projects/<int:pk>/runs/", training.runs_page, name="training-runs"),
    path("projects/<int:pk>/runs/start/", training.start_train, name="training-start"),
    path("projects/<int:pk>/runs/<int:run_id>/", training.training_run, name="training-run"),
    path("projects/<int:pk>/runs/<int:run_id>/cancel/", training.cancel_run, name="training-cancel"),
]
