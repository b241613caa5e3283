"""After a restart: same queue order, same filters and counts, the same sign-in still valid."""

from __future__ import annotations

import httpx

from tests.argilla_local.conftest import N_RECORDS, Deployment, sign_in


def test_everything_survives_a_server_restart(deployment: Deployment):
    from argilla_local import control

    argilla, dataset = deployment.argilla, deployment.dataset_id
    annotator = deployment.credentials["users"]["annotator1"]
    pending = {
        "filters": {
            "and": [
                {
                    "type": "terms",
                    "scope": {"entity": "response", "property": "status"},
                    "values": ["pending"],
                }
            ]
        }
    }
    queue_before, _ = deployment.rest("annotator1").search(dataset, pending)
    token = sign_in(argilla.api_url, "annotator1", annotator["password"])

    old_pid = control.running_pid(argilla, "server")
    assert control.stop_process(argilla, "server")
    control.start_process(argilla, "server")
    control.wait_until_up(argilla)
    assert control.running_pid(argilla, "server") not in (None, old_pid)

    queue_after, total = deployment.rest("annotator1").search(dataset, pending)
    assert queue_after == queue_before and total == N_RECORDS - 8
    progress = deployment.rest("owner").get(f"/api/v1/datasets/{dataset}/progress")
    assert progress["completed"] == 6
    me = httpx.get(f"{argilla.api_url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert me.status_code == 200 and me.json()["username"] == "annotator1"


def test_up_again_is_idempotent(deployment: Deployment):
    """A second `up` keeps the running server, the users and their credentials."""
    from argilla_local import control, launch

    pid = control.running_pid(deployment.argilla, "server")
    credentials = launch.up(deployment.argilla)
    assert control.running_pid(deployment.argilla, "server") == pid
    assert credentials["users"] == deployment.credentials["users"]
    assert oct(deployment.argilla.credentials_file.stat().st_mode & 0o777) == "0o600"
