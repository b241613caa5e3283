"""The rq worker runs Argilla's jobs with the SQL engine loaded (it fails on an unknown engine)."""

from __future__ import annotations

import time

from tests.argilla_local.conftest import Deployment


def test_raising_min_submitted_reopens_records_through_the_worker(deployment: Deployment):
    import argilla as rg

    client = rg.Argilla(
        api_url=deployment.argilla.api_url, api_key=deployment.credentials["users"]["owner"]["api_key"]
    )
    settings = rg.Settings(
        fields=[rg.TextField(name="prompt")],
        questions=[rg.LabelQuestion(name="preference", labels=["1", "2", "tie"])],
    )
    dataset = rg.Dataset(name="worker-test", workspace="tandem", settings=settings, client=client).create()
    dataset.records.log([rg.Record(id=f"w-{i}", fields={"prompt": f"prompt {i}"}) for i in range(3)])
    first = next(record for record in dataset.records if record.id == "w-0")
    deployment.rest("annotator1").respond(str(first._server_id), "submitted", "1")
    owner = deployment.rest("owner")
    assert owner.get(f"/api/v1/datasets/{dataset.id}/progress")["completed"] == 1

    answer = owner.http.patch(
        f"/api/v1/datasets/{dataset.id}", json={"distribution": {"strategy": "overlap", "min_submitted": 2}}
    )
    assert answer.status_code == 200, answer.text

    deadline = time.monotonic() + 60
    while owner.get(f"/api/v1/datasets/{dataset.id}/progress")["completed"] != 0:
        assert time.monotonic() < deadline, (
            f"the worker did not recompute record statuses; see {deployment.argilla.home}"
        )
        time.sleep(0.25)
