"""The REST API for each role: who may read, who may change, and the errors they get."""

from __future__ import annotations

import io
import json

import pytest

from tandem.core import services
from tandem.core.models import Job, Pair, Project

pytestmark = pytest.mark.django_db

READ = [
    ("get", "/api/projects/"),
    ("get", "/api/projects/{p}/"),
    ("get", "/api/projects/{p}/stats/"),
    ("get", "/api/projects/{p}/pairs/"),
    ("get", "/api/jobs/"),
]
WRITE = [("post", "/api/projects/"), ("patch", "/api/projects/{p}/"), ("post", "/api/projects/{p}/imports/")]
EXPECTED = {  # role: (may read, may write)
    None: (401, 401),
    "annotator": (403, 403),
    "auditor": (200, 403),
    "engineer": (200, "ok"),
    "admin": (200, "ok"),
}


def _body(method, url):
    if url.endswith("imports/"):
        upload = io.BytesIO(b'{"prompt": "q", "response_a": "a", "response_b": "b"}\n')
        upload.name = "p.jsonl"
        return {"data": {"file": upload, "format": "pairs"}, "format": "multipart"}
    if method == "post":
        return {"data": {"name": "new-project"}, "format": "json"}
    return {"data": {"description": "changed"}, "format": "json"}


@pytest.mark.parametrize("role", list(EXPECTED))
def test_every_endpoint_for_every_role(api, role):
    project = services.create_project("p1")
    client = api(role)
    may_read, may_write = EXPECTED[role]
    for method, url in READ:
        response = getattr(client, method)(url.format(p=project.pk))
        assert response.status_code == may_read, (role, url, response.content)
    for method, url in WRITE:
        response = getattr(client, method)(url.format(p=project.pk), **_body(method, url))
        if may_write == "ok":
            assert response.status_code in (200, 201, 202), (role, url, response.content)
        else:
            assert response.status_code == may_write, (role, url, response.content)
    if may_write != "ok":
        assert Project.objects.get(pk=project.pk).description == ""
        assert not Project.objects.filter(name="new-project").exists()
        assert not Job.objects.exists()


def test_engineer_creates_a_project_and_reads_its_pairs(api, tmp_path):
    client = api("engineer")
    created = client.post("/api/projects/", {"name": "demo", "rubric": "Be helpful."}, format="json")
    assert created.status_code == 201
    project = Project.objects.get(name="demo")
    path = tmp_path / "p.jsonl"
    path.write_text(
        "".join(
            json.dumps({"prompt": f"q{i}", "response_a": "a", "response_b": "b", "category": c}) + "\n"
            for i, c in enumerate(["x", "y", "x"])
        )
    )
    services.import_pairs(project, path, "pairs")
    listed = client.get(f"/api/projects/{project.pk}/pairs/?category=x").json()
    assert listed["count"] == 2
    assert {p["prompt"] for p in listed["results"]} == {"q0", "q2"}
    pair = Pair.objects.filter(project=project).first()
    detail = client.get(f"/api/projects/{project.pk}/pairs/{pair.pk}/").json()
    assert detail["judgments"] == [] and detail["human_labels"] == []
    stats = client.get(f"/api/projects/{project.pk}/stats/").json()
    assert stats["pairs"] == 3


def test_bad_config_json_is_a_clear_400(api):
    response = api("engineer").post("/api/projects/", {"name": "x", "judge_config": [1]}, format="json")
    assert response.status_code == 400
    assert response.json() == {"judge_config": ["judge_config must be a JSON object"]}


def test_upload_of_a_folder_format_is_refused_with_the_choices(api):
    project = services.create_project("p1")
    upload = io.BytesIO(b"[]")
    upload.name = "d.json"
    response = api("engineer").post(
        f"/api/projects/{project.pk}/imports/", {"file": upload, "format": "llmbar"}, format="multipart"
    )
    assert response.status_code == 400
    assert "llmbar" in response.json()["format"][0]


def test_openapi_schema_is_served(api):
    services.create_project("p1")
    response = api("auditor").get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert "/api/projects/{id}/imports/" in schema["paths"]
    assert "/api/projects/{project_pk}/members/" in schema["paths"]


def test_revoked_token_is_refused(api):
    from knox.models import AuthToken

    client = api("engineer")
    assert client.get("/api/projects/").status_code == 200
    AuthToken.objects.all().delete()
    assert client.get("/api/projects/").status_code == 401


def test_an_expired_token_is_refused_and_removed(api):
    from datetime import timedelta

    from django.utils import timezone
    from knox.models import AuthToken

    client = api("engineer")
    AuthToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))
    refused = client.get("/api/projects/")
    assert refused.status_code == 401 and refused.json() == {"detail": "Invalid token."}
    assert not AuthToken.objects.exists()


def test_the_engineer_who_creates_a_project_becomes_its_engineer_and_only_they_see_it(api, user_factory):
    from tandem.core.models import Membership

    mine = api("engineer", project=[]).post("/api/projects/", {"name": "mine"}, format="json")
    assert mine.status_code == 201
    assert list(Membership.objects.values_list("user__username", "project__name", "role")) == [
        ("engineer-user", "mine", "engineer")
    ]
    other = user_factory("engineer", name="other-engineer", project=[])
    from knox.models import AuthToken
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=other)[1]}")
    assert client.get("/api/projects/").json()["results"] == []
    assert client.get(f"/api/projects/{mine.json()['id']}/").status_code == 404


def test_creating_a_project_under_a_taken_name_never_joins_the_other_team(api, user_factory):
    from tandem.core import services
    from tandem.core.models import Membership

    theirs = api("engineer", project=[]).post("/api/projects/", {"name": "theirs"}, format="json")
    assert theirs.status_code == 201
    intruder = user_factory("engineer", name="intruder", project=[])
    with pytest.raises(services.Conflict, match="exists already"):  # the pages and the API call this
        services.new_project("theirs", user=intruder)
    assert not Membership.objects.filter(user=intruder).exists()


def test_auditors_and_annotators_may_not_create_projects(api):
    services.create_project("p1")
    for role in ("auditor", "annotator"):
        refused = api(role).post("/api/projects/", {"name": f"by-{role}"}, format="json")
        assert refused.status_code == 403, role
    assert list(Project.objects.values_list("name", flat=True)) == ["p1"]


def test_an_admin_manages_members_through_the_api(api, user_factory):
    project = services.create_project("p1")
    user_factory("auditor", name="newcomer", project=[])
    admin = api("admin")
    added = admin.post(f"/api/projects/{project.pk}/members/", {"username": "newcomer", "role": "auditor"})
    assert added.status_code == 201 and added.json()["username"] == "newcomer"
    changed = admin.post(f"/api/projects/{project.pk}/members/", {"username": "newcomer", "role": "engineer"})
    assert changed.status_code == 201 and changed.json()["role"] == "engineer"
    listed = admin.get(f"/api/projects/{project.pk}/members/").json()["results"]
    assert [(m["username"], m["role"]) for m in listed] == [("newcomer", "engineer")]
    unknown = admin.post(f"/api/projects/{project.pk}/members/", {"username": "nobody", "role": "auditor"})
    assert unknown.status_code == 404
    engineer = api("engineer", project=project)
    members = f"/api/projects/{project.pk}/members/"
    refused = engineer.post(members, {"username": "newcomer", "role": "auditor"})
    assert refused.status_code == 403
    member = listed[0]["id"]
    assert engineer.delete(f"/api/projects/{project.pk}/members/{member}/").status_code == 403
    assert admin.delete(f"/api/projects/{project.pk}/members/{member}/").status_code == 204
    names = [m["username"] for m in admin.get(f"/api/projects/{project.pk}/members/").json()["results"]]
    assert names == ["engineer-user"]


def test_judge_job_is_started_by_engineers_only_and_bad_names_are_400(api):
    project = services.create_project("p1")
    assert api("auditor").post(f"/api/projects/{project.pk}/judge/", {}, format="json").status_code == 403
    bad = api("engineer").post(f"/api/projects/{project.pk}/judge/", {"judge": "nope"}, format="json")
    assert bad.status_code == 400 and "smollm2" in bad.json()["message"]
    ok = api("engineer").post(f"/api/projects/{project.pk}/judge/", {"limit": 5}, format="json")
    assert ok.status_code == 202
    job = Job.objects.get(pk=ok.json()["id"])
    assert (job.kind, job.params) == ("judge", {"judge": "smollm2", "limit": 5})


def test_a_huge_or_negative_page_request_is_answered_with_a_capped_page(api):
    # schemathesis found limit=1129187432023902388224 reaching PostgreSQL as a LIMIT it
    # rejects (bigint out of range: a 500).
    client = api("engineer")
    for name in ("a", "b", "c"):
        client.post("/api/projects/", {"name": name}, format="json")
    page = client.get("/api/projects/?limit=1129187432023902388224&offset=-3978209")
    assert page.status_code == 200
    assert page.json()["count"] == 3 and len(page.json()["results"]) == 3
    assert len(client.get("/api/projects/?limit=2").json()["results"]) == 2
    beyond = client.get("/api/projects/?offset=1129187432023902388224")
    assert beyond.status_code == 200 and beyond.json()["results"] == []


def _post_upload(client, project, name: str, content: bytes):
    upload = io.BytesIO(content)
    upload.name = name
    return client.post(f"/api/projects/{project.pk}/imports/", {"file": upload, "format": "pairs"})


@pytest.fixture
def small_limits(settings, tmp_path):
    settings.TANDEM_MAX_UPLOAD_MB = 0.25  # 256 KB
    settings.TANDEM_MAX_LINE_KB = 8
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def test_an_upload_over_the_size_cap_is_a_413_that_says_the_limit(api, small_limits):
    project = services.create_project("p1")
    row = json.dumps({"prompt": "q", "response_a": "a" * 1000, "response_b": "b"}) + "\n"
    refused = _post_upload(api("engineer"), project, "big.jsonl", row.encode() * 400)  # 400 KB
    assert refused.status_code == 413
    assert refused.json()["code"] == "upload_too_large"
    assert "over the limit of 0.25 MB (TANDEM_MAX_UPLOAD_MB)" in refused.json()["message"]
    assert not Job.objects.exists() and list(small_limits.rglob("*.jsonl")) == []


def test_a_gzip_that_unpacks_past_the_cap_is_a_413_and_is_not_kept(api, small_limits):
    import gzip

    project = services.create_project("p1")
    packed = gzip.compress(b"\n" * (1024 * 1024))  # 1 MB of empty lines in about 1 KB
    refused = _post_upload(api("engineer"), project, "bomb.jsonl.gz", packed)
    assert refused.status_code == 413
    assert refused.json()["message"].startswith("bomb.jsonl.gz (unpacked): the upload is over the limit")
    assert not Job.objects.exists() and list(small_limits.rglob("*.gz")) == []


def test_a_line_over_the_line_cap_is_a_400_naming_the_line(api, small_limits):
    import gzip

    project = services.create_project("p1")
    good = json.dumps({"prompt": "q", "response_a": "a", "response_b": "b"}) + "\n"
    long = json.dumps({"prompt": "q", "response_a": "a" * 20_000, "response_b": "b"}) + "\n"
    for name, content in (("p.jsonl", good + long), ("p.jsonl.gz", gzip.compress((good + long).encode()))):
        data = content if isinstance(content, bytes) else content.encode()
        refused = _post_upload(api("engineer"), project, name, data)
        assert refused.status_code == 400, name
        assert refused.json() == {
            "code": "line_too_long",
            "message": f"{name}, line 2: the line is longer than 8 KB (TANDEM_MAX_LINE_KB); a pair row is "
            "one line of a few texts: check the file's line breaks, or raise the limit",
        }
    assert _post_upload(api("engineer"), project, "ok.jsonl", good.encode() * 3).status_code == 202
