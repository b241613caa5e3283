"""Who may do what: every URL the app serves, against every role, from one table.

The table is checked against Django's URL resolver, so an endpoint added without a row (or a
row left behind by a removed one) fails here: a new page cannot ship without someone deciding
who may open it. Each row names a path, the methods exercised and a policy; a policy maps each
role to what that role must see. The Django admin's URLs are enumerated from the resolver too
and all get the admin policy (staff only).
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
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tandem.core import services
from tandem.core.models import DatasetVersion, HumanLabel, Job, Judgment, Pair, Project, TrainingRun
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


@dataclass
class World:
    project: Project
    pair: Pair
    job: Job
    dataset: DatasetVersion
    run: TrainingRun
    admin_user: object


def table(w: World) -> dict[str, tuple[str, dict]]:
    """Resolver route -> (path, {method: policy}). Keys are the routes exactly as Django
    joins them (ResolverMatch.route), so each row provably tests the URL it names."""
    p, pr = w.project.pk, f"/projects/{w.project.pk}"
    api = {  # DRF routes come in pairs: the route and its format-suffix twin (.json)
        "projects/$": ("/api/projects/", {"get": API_READ, "post": API_WRITE}),
        "projects/(?P<pk>[^/.]+)/$": (
            f"/api/projects/{p}/",
            {"get": API_READ, "put": API_WRITE, "patch": API_WRITE},
        ),
        "projects/(?P<pk>[^/.]+)/imports/$": (f"/api/projects/{p}/imports/", {"post": API_WRITE}),
        "projects/(?P<pk>[^/.]+)/judge/$": (f"/api/projects/{p}/judge/", {"post": API_WRITE}),
        "projects/(?P<pk>[^/.]+)/stats/$": (f"/api/projects/{p}/stats/", {"get": API_READ}),
        "jobs/$": ("/api/jobs/", {"get": API_READ}),
        "jobs/(?P<pk>[^/.]+)/$": (f"/api/jobs/{w.job.pk}/", {"get": API_READ}),
        "jobs/(?P<pk>[^/.]+)/cancel/$": (f"/api/jobs/{w.job.pk}/cancel/", {"post": API_WRITE}),
    }
    rows = {}
    for route, (path, methods) in api.items():
        rows[f"api/{route}"] = (path, methods)
        rows[f"api/{route[:-2]}\\.(?P<format>[a-z0-9]+)/?$"] = (path[:-1] + ".json", methods)
    return rows | {
        "api/": ("/api/", {"get": API_READ}),
        "api/<drf_format_suffix:format>": ("/api/.json", {"get": API_READ}),
        "api/projects/<int:project_pk>/pairs/$": (f"/api/projects/{p}/pairs/", {"get": API_READ}),
        "api/projects/<int:project_pk>/pairs/(?P<pk>[^/.]+)/$": (
            f"/api/projects/{p}/pairs/{w.pair.pk}/",
            {"get": API_READ},
        ),
        "api/schema/": ("/api/schema/", {"get": API_READ}),
        "api/docs/": ("/api/docs/", {"get": API_READ}),
        "api/redoc/": ("/api/redoc/", {"get": API_READ}),
        "argilla/webhook/": ("/argilla/webhook/", {"post": UNSIGNED_WEBHOOK}),
        "": ("/", {"get": SIGNED_IN}),
        "projects/<int:pk>/": (f"{pr}/", {"get": READ_PAGE}),
        "projects/<int:pk>/import/": (f"{pr}/import/", {"post": WRITE_PAGE}),
        "projects/<int:pk>/judge/": (f"{pr}/judge/", {"post": WRITE_PAGE}),
        "projects/<int:pk>/pairs/": (f"{pr}/pairs/", {"get": READ_PAGE}),
        "projects/<int:pk>/pairs/<int:pair_id>/": (f"{pr}/pairs/{w.pair.pk}/", {"get": READ_PAGE}),
        "projects/<int:pk>/audit/": (f"{pr}/audit/", {"get": READ_PAGE}),
        "projects/<int:pk>/runs/<int:run_id>/": (f"{pr}/runs/{w.run.pk}/", {"get": READ_PAGE}),
        r"^projects/(?P<pk>\d+)/datasets/(?P<version>[0-9a-f]{64})/download\.(?P<fmt>jsonl|parquet|csv)$": (
            f"{pr}/datasets/{w.dataset.version}/download.jsonl",
            {"get": READ_PAGE},
        ),
        r"^projects/(?P<pk>\d+)/audit/report\.(?P<fmt>json|html|pdf)$": (
            f"{pr}/audit/report.json",
            {"get": READ_PAGE},
        ),
        "accounts/login/": ("/accounts/login/", {"get": PUBLIC}),
        "accounts/logout/": ("/accounts/logout/", {"post": SIGNED_OUT}),
        "accounts/password_change/": ("/accounts/password_change/", {"get": SIGNED_IN}),
        "accounts/password_change/done/": ("/accounts/password_change/done/", {"get": SIGNED_IN}),
        "accounts/password_reset/": ("/accounts/password_reset/", {"get": PUBLIC}),
        "accounts/password_reset/done/": ("/accounts/password_reset/done/", {"get": PUBLIC}),
        "accounts/reset/<uidb64>/<token>/": ("/accounts/reset/MQ/bad-token/", {"get": PUBLIC}),
        "accounts/reset/done/": ("/accounts/reset/done/", {"get": PUBLIC}),
    }


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


SPECIAL_ADMIN_ROWS = {
    "admin:login": {"get": PUBLIC},
    "admin:logout": {"post": PUBLIC | {"admin": SIGN_IN}},  # POST only since Django 5
    "admin:view_on_site": {"get": ADMIN | {"admin": 404}},  # a project has no page outside the admin
    "admin:autocomplete": {"get": ADMIN | {"admin": 403}},  # no model declares autocomplete fields
    "admin:<catch-all>": {"get": ADMIN | {"admin": 404}},  # an unknown admin page
}


def admin_rows(w: World) -> dict[str, tuple[str, dict]]:
    """Every Django admin URL, its parameters filled with real rows, under the admin policy."""
    values = {
        "app_label": "core",
        "object_id": str(w.project.pk),
        "pk": w.project.pk,
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
            path = "/" + route.replace("<path:object_id>", str(w.project.pk))
        else:
            path = reverse(name, kwargs={k: values[k] for k in params})
        special = "admin:<catch-all>" if route.endswith("(?P<url>.*)$") else name
        rows[route] = (path, SPECIAL_ADMIN_ROWS.get(special, {"get": ADMIN}))
    return rows


@pytest.fixture
def world(tmp_path, user_factory) -> World:
    project = services.create_project("acl")
    path = tmp_path / "p.jsonl"
    rows = [{"prompt": f"q{i}", "response_a": "a", "response_b": "b"} for i in range(4)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    services.import_pairs(project, path, "pairs")
    judge_pairs(Pair.objects.filter(project=project), 0.8, 0.3)
    pair = Pair.objects.filter(project=project).first()
    HumanLabel.objects.create(pair=pair, annotator="annotator-user", choice="a", source="argilla")
    job = Job.objects.create(kind="import_pairs", project=project, status=Job.Status.RUNNING)
    export = tmp_path / "rows.jsonl"
    export.write_text('{"prompt": "q0", "chosen": "a", "rejected": "b"}\n')
    dataset = DatasetVersion.objects.create(
        project=project, version="ab" * 32, policy={}, n_rows=1, files={"jsonl": str(export)}
    )
    run = TrainingRun.objects.create(
        project=project,
        dataset=dataset,
        method="dpo",
        config={},
        output_dir=str(tmp_path),
        metrics=[{"step": 1, "loss": 0.7}, {"step": 2, "loss": 0.5}],
    )
    for role in ROLES[1:]:
        Token.objects.get_or_create(user=user_factory(role))
    return World(project, pair, job, dataset, run, user_factory("admin"))


def client_for(role: str | None, path: str):
    """API paths get token auth (how API clients sign in); pages get a session."""
    if path.startswith("/api/"):
        client = APIClient()
        if role:
            token = Token.objects.get(user__username=f"{role}-user")
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client
    client = Client()
    if role:
        client.force_login(get_user_model().objects.get(username=f"{role}-user"))
    return client


def body(path: str, method: str, w: World) -> dict:
    if path.endswith(("/imports/", "/imports.json", "/import/")):
        upload = io.BytesIO(b'{"prompt": "new q", "response_a": "a", "response_b": "b"}\n')
        upload.name = "more.jsonl"
        return {"data": {"file": upload, "format": "pairs"}}
    if path.endswith(("/judge/", "/judge.json")):
        return {"data": {"judge": "smollm2", "limit": 1}}
    if path.startswith("/api/projects/") and method in {"put", "patch"}:
        return {"data": {"name": w.project.name, "description": "changed"}, "format": "json"}
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
    return OK if 200 <= response.status_code < 300 else response.status_code


def full_table(w: World) -> dict[str, tuple[str, dict]]:
    return table(w) | admin_rows(w)


def test_every_url_has_a_row_and_every_row_is_a_url(world):
    served = {route for route, _, _ in resolver_routes()}
    rows = full_table(world)
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
            assert set(actions) == set(rows[route][1]), route


@pytest.fixture
def webhook_secret(settings):
    settings.ARGILLA_WEBHOOK_SECRET = "whsec_" + "c2VjcmV0LWZvci10aGUtYWNjZXNzLXRhYmxl"


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r or "anonymous")
def test_access_table(world, webhook_secret, role):
    wrong = []
    for path, methods in full_table(world).values():
        for method, policy in methods.items():
            response = getattr(client_for(role, path), method)(path, **body(path, method, world))
            got = outcome(response)
            if got != policy[role]:
                wrong.append(f"{method.upper()} {path}: expected {policy[role]}, got {got}")
    assert wrong == [], "\n".join(wrong)


def snapshot() -> dict:
    return {
        model.__name__: sorted(map(str, model.objects.values_list()))
        for model in (Project, Pair, Judgment, HumanLabel, Job, DatasetVersion, TrainingRun)
    }


def test_auditor_is_refused_every_method_that_changes_data(world, webhook_secret):
    """Every unsafe method on every URL outside the admin and the account pages (sign-in,
    sign-out, password: the auditor's own account): 403 where the route has that action, 405
    where it has none (401 from the webhook, which wants a signature), and not a row changed."""
    before = snapshot()
    wrong = []
    for route, (path, methods) in table(world).items():
        if route.startswith("accounts/"):
            continue
        for method in UNSAFE:
            response = getattr(client_for("auditor", path), method)(path, **body(path, method, world))
            expected = {403} if method in methods else {403, 405}
            if path == "/argilla/webhook/":
                expected = {401} if method in methods else {405}
            if response.status_code not in expected:
                wrong.append(f"{method.upper()} {path}: {response.status_code}, expected {sorted(expected)}")
    assert wrong == [], "\n".join(wrong)
    assert snapshot() == before


def test_annotator_home_shows_their_argilla_queue_and_progress_only(world, user_factory):
    client = client_for("annotator", "/")
    page = client.get("/").content.decode()
    assert 'id="argilla-link"' in page and 'id="my-labels"' in page
    assert world.project.name in page  # their one label, counted under its project
    assert f"/projects/{world.project.pk}/" not in page and "/api/docs/" not in page


def test_a_token_revoked_in_the_admin_is_refused_on_the_next_call(world):
    """Revocation is the admin's token page (rest_framework.authtoken's admin): delete the token;
    the very next API call with it gets 401. `manage.py create_user NAME --role R` issues a new one."""
    token = Token.objects.get(user__username="engineer-user")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api.get("/api/projects/").status_code == 200
    admin = client_for("admin", "/admin/")
    delete_url = reverse("admin:authtoken_tokenproxy_delete", args=[token.user.pk])
    assert admin.get(delete_url).status_code == 200  # the confirmation page
    assert admin.post(delete_url, {"post": "yes"}).status_code == 302
    assert not Token.objects.filter(key=token.key).exists()
    refused = api.get("/api/projects/")
    assert refused.status_code == 401 and refused.json() == {"detail": "Invalid token."}
