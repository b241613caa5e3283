from django.urls import path, re_path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("projects/<int:pk>/", views.project_detail, name="project-detail"),
    path("projects/<int:pk>/import/", views.start_import, name="project-import"),
    path("projects/<int:pk>/judge/", views.start_judge, name="project-judge"),
    path("projects/<int:pk>/pairs/", views.pair_list, name="pair-list"),
    path("projects/<int:pk>/pairs/<int:pair_id>/", views.pair_detail, name="pair-detail"),
    path("projects/<int:pk>/audit/", views.audit_page, name="audit"),
    path("projects/<int:pk>/runs/<int:run_id>/", views.training_run, name="training-run"),
    re_path(
        r"^projects/(?P<pk>\d+)/datasets/(?P<version>[0-9a-f]{64})/download\.(?P<fmt>jsonl|parquet|csv)$",
        views.dataset_download,
        name="dataset-download",
    ),
    re_path(
        r"^projects/(?P<pk>\d+)/audit/report\.(?P<fmt>json|html|pdf)$",
        views.audit_download,
        name="audit-download",
    ),
]
