"""Progress counts and metadata metrics: the numbers the annotation UI shows."""

from __future__ import annotations

from tests.argilla_local.conftest import N_RECORDS, Deployment


def test_dataset_progress_counts_completed_records(deployment: Deployment):
    progress = deployment.rest("owner").get(f"/api/v1/datasets/{deployment.dataset_id}/progress")
    assert (progress["total"], progress["completed"], progress["pending"]) == (N_RECORDS, 6, N_RECORDS - 6)


def test_each_annotator_sees_their_own_counts(deployment: Deployment):
    def metrics(user: str) -> dict:
        return deployment.rest(user).get(f"/api/v1/me/datasets/{deployment.dataset_id}/metrics")["responses"]

    first, second, third = metrics("annotator1"), metrics("annotator2"), metrics("annotator3")
    assert {key: first[key] for key in ("total", "submitted", "draft", "discarded", "pending")} == {
        "total": N_RECORDS,
        "submitted": 5,
        "draft": 2,
        "discarded": 1,
        "pending": N_RECORDS - 8,
    }
    assert (second["submitted"], second["pending"]) == (2, N_RECORDS - 2)
    assert (third["submitted"], third["pending"]) == (0, N_RECORDS)


def test_users_progress_lists_who_answered(deployment: Deployment):
    progress = deployment.rest("owner").get(f"/api/v1/datasets/{deployment.dataset_id}/users/progress")
    by_user = {item["username"]: item for item in progress["users"]}
    assert set(by_user) == {"annotator1", "annotator2"}
    assert by_user["annotator1"]["completed"]["submitted"] == 5


def test_metadata_metrics_for_the_filter_panel(deployment: Deployment):
    rest = deployment.rest("owner")
    properties = rest.get(f"/api/v1/me/datasets/{deployment.dataset_id}/metadata-properties")["items"]
    metrics = {
        item["name"]: rest.get(f"/api/v1/metadata-properties/{item['id']}/metrics") for item in properties
    }

    assert metrics["category"]["total"] == N_RECORDS
    assert {value["term"]: value["count"] for value in metrics["category"]["values"]} == {
        "math": 10,
        "code": 10,
        "writing": 10,
    }
    assert {value["term"]: value["count"] for value in metrics["tags"]["values"]} == {"long": 6, "hard": 8}
    assert metrics["tags"]["total"] == 14  # records 0 and 20 carry both tags
    assert (metrics["margin"]["min"], metrics["margin"]["max"]) == (0.0, 2.9)
