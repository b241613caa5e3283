"""A real argilla-server 2.8.0 with the SQL search engine, on SQLite and on PostgreSQL.

One server per database for the whole session (the tests of every module run against each),
with a preference dataset of 30 records logged through the argilla SDK and a fixed set of
annotator responses, so every test asserts exact counts. Skipped with a message when
.argilla-venv cannot be installed (no package registry).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from scripts.services import free_port, start_postgres
from tests.required import unavailable

N_RECORDS = 30
CATEGORIES = ("math", "code", "writing")
# annotator -> {record index: (status, label)}; the expected counts in the tests follow from it.
RESPONSES = {
    "annotator1": {
        0: ("submitted", "tie"),
        1: ("submitted", "1"),
        2: ("submitted", "1"),
        3: ("submitted", "1"),
        4: ("submitted", "1"),
        5: ("draft", "2"),
        6: ("draft", "2"),
        7: ("discarded", None),
    },
    "annotator2": {0: ("submitted", "2"), 10: ("submitted", "2")},
}


def record_values(i: int) -> dict:
    """Fields, metadata and suggestion of record i (external id pair-ii)."""
    tags = ["long"] * (i % 5 == 0) + ["hard"] * (i % 4 == 0)
    return {
        "id": f"pair-{i:02d}",
        "fields": {
            "prompt": f"Question {i} about {CATEGORIES[i % 3]}" + (" with a zebra" if i == 17 else ""),
            "response1": f"First answer to question {i}",
            "response2": f"Second answer to question {i}",
        },
        "metadata": {"category": CATEGORIES[i % 3], "margin": i / 10, **({"tags": tags} if tags else {})},
        "suggestion": {
            "value": "1" if i % 2 == 0 else "2",
            "score": round(0.5 + i / 60, 3),
            "agent": "judge-a" if i < 15 else "judge-b",
        },
    }


class Rest:
    """The server's REST API as one user (API key), with the calls the tests make."""

    def __init__(self, api_url: str, api_key: str):
        self.http = httpx.Client(base_url=api_url, headers={"X-Argilla-Api-Key": api_key}, timeout=30)

    def search(
        self,
        dataset_id: str,
        body: dict | None = None,
        *,
        mine: bool = True,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[str], int]:
        """External ids of the matching records in order, and the total."""
        prefix = "/api/v1/me" if mine else "/api/v1"
        answer = self.http.post(
            f"{prefix}/datasets/{dataset_id}/records/search",
            json=body or {},
            params={"limit": limit, "offset": offset},
        )
        assert answer.status_code == 200, answer.text
        data = answer.json()
        return [item["record"]["external_id"] for item in data["items"]], data["total"]

    def get(self, path: str) -> dict:
        answer = self.http.get(path)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def respond(self, record_id: str, status: str, label: str | None) -> None:
        body = {"status": status}
        if label is not None:
            body["values"] = {"preference": {"value": label}}
        answer = self.http.post(f"/api/v1/records/{record_id}/responses", json=body)
        assert answer.status_code == 201, answer.text


@dataclass
class Deployment:
    """One running local Argilla with the test dataset."""

    database: str
    argilla: object  # argilla_local.control.LocalArgilla
    credentials: dict
    dataset_id: str
    record_ids: dict[str, str]  # external id -> record id

    def rest(self, username: str) -> Rest:
        return Rest(self.argilla.api_url, self.credentials["users"][username]["api_key"])

    def ids(self, *indexes: int) -> set[str]:
        return {f"pair-{i:02d}" for i in indexes}


@pytest.fixture(scope="session")
def argilla_venv():
    from argilla_local.install import InstallError, install

    try:
        install()
    except InstallError as error:
        unavailable(
            "argilla-server",
            f"2.8.0 could not be installed into .argilla-venv (no package registry?): {error}",
        )


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def deployment(request, argilla_venv, redis_url, tmp_path_factory) -> Deployment:
    from argilla_local import control, launch

    database = request.param
    postgres = start_postgres() if database == "postgresql" else None
    argilla = control.LocalArgilla(
        home=Path(tmp_path_factory.mktemp(f"argilla-{database}")),
        port=free_port(),
        # one Redis database per server: their rq queues must not meet
        redis_url=f"{redis_url}/{1 if database == 'sqlite' else 2}",
        database_url=postgres and f"postgresql+asyncpg://postgres@127.0.0.1:{postgres.port}/tandem",
    )
    try:
        with launch.running(argilla) as credentials:
            dataset_id, record_ids = _seed(argilla.api_url, credentials)
            yield Deployment(database, argilla, credentials, dataset_id, record_ids)
    finally:
        if postgres is not None:
            postgres.stop()


def _seed(api_url: str, credentials: dict) -> tuple[str, dict[str, str]]:
    import argilla as rg

    client = rg.Argilla(api_url=api_url, api_key=credentials["users"]["owner"]["api_key"])
    settings = rg.Settings(
        fields=[rg.TextField(name="prompt"), rg.TextField(name="response1"), rg.TextField(name="response2")],
        questions=[
            rg.LabelQuestion(name="preference", labels=["1", "2", "tie"]),
            rg.TextQuestion(name="rationale", required=False),
        ],
        metadata=[
            rg.TermsMetadataProperty(name="category"),
            rg.FloatMetadataProperty(name="margin"),
            rg.TermsMetadataProperty(name="tags"),
        ],
    )
    dataset = rg.Dataset(name="plugin-test", workspace="tandem", settings=settings, client=client).create()
    records = []
    for i in range(N_RECORDS):
        values = record_values(i)
        records.append(
            rg.Record(
                id=values["id"],
                fields=values["fields"],
                metadata=values["metadata"],
                suggestions=[rg.Suggestion(question_name="preference", **values["suggestion"])],
            )
        )
    dataset.records.log(records)
    record_ids = {record.id: str(record._server_id) for record in dataset.records}
    assert len(record_ids) == N_RECORDS
    for username, answers in RESPONSES.items():
        rest = Rest(api_url, credentials["users"][username]["api_key"])
        for i, (status, label) in answers.items():
            rest.respond(record_ids[f"pair-{i:02d}"], status, label)
    return str(dataset.id), record_ids


def sign_in(api_url: str, username: str, password: str) -> str:
    """A bearer token from POST /api/v1/token (what the UI's sign-in does)."""
    with contextlib.closing(httpx.Client(base_url=api_url, timeout=30)) as http:
        answer = http.post("/api/v1/token", data={"username": username, "password": password})
    assert answer.status_code == 201, answer.text
    return answer.json()["access_token"]
