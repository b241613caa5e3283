"""Judge endpoints belong to operators: named providers in settings, never URLs or key variables
in a project's config; the provider is part of every judgment's provenance, config hash and
call-cache key; configs are checked when written and answer 400 naming the key."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tandem.core import judging, services
from tandem.core.models import JudgeCall, Judgment, Project
from tests.openai_endpoint import API_KEY, MODEL, FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)


class Listener:
    """A loopback HTTP server that records every request it gets (and answers 200 to all)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict]] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _record(self) -> None:
                listener.requests.append((self.command, self.path, dict(self.headers)))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"object": "list", "data": [{"id": "gpt-4o", "object": "model"}]}')

            do_GET = do_POST = _record

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


def project_with_pairs(tmp_path, name="proj", n=2):
    project = services.create_project(name)
    path = tmp_path / f"{name}.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {"prompt": f"SCENARIO=logprobs q{i} {name}", "response_a": "Paris.", "response_b": "Lyon."}
            )
            + "\n"
            for i in range(n)
        )
    )
    services.import_pairs(project, path, "pairs")
    return project


def test_a_config_that_points_a_judge_at_another_host_with_a_worker_secret_is_refused(
    api, listener, monkeypatch, tmp_path
):
    monkeypatch.setenv("DJANGO_SECRET_KEY", "the-worker-secret")
    project = project_with_pairs(tmp_path)
    client = api("admin")
    evil = {"backend": "openai", "model": "gpt-4o",
            "params": {"base_url": listener.url, "api_key_env": "DJANGO_SECRET_KEY"}}  # fmt: skip
    reply = client.patch(
        f"/api/projects/{project.pk}/", {"judge_config": {"judges": {"x": evil}}}, format="json"
    )
    assert reply.status_code == 400
    assert "judge_config.judges.x.params.api_key_env" in json.dumps(reply.json())
    assert "provider" in json.dumps(reply.json())

    # A config stored before the checks existed (straight into the database) is refused when
    # read, before any request leaves the worker.
    project.judge_config = {"judges": {"x": evil}}
    project.save()
    reply = client.post(f"/api/projects/{project.pk}/judge/", {"judge": "x"}, format="json")
    assert reply.status_code == 400, reply.content
    assert reply.json()["code"] == "config_invalid"
    assert reply.json()["key"] == "judge_config.judges.x.params.api_key_env"
    assert listener.requests == []
    assert "the-worker-secret" not in reply.content.decode()


def test_a_judge_name_from_the_api_is_never_read_as_a_file(api, tmp_path):
    project = project_with_pairs(tmp_path)
    secret_file = tmp_path / "worker-only.json"
    secret_file.write_text(json.dumps({"backend": "hf", "database_password_field": 1}))
    for name in (str(secret_file), "../../worker-only.json", "x/../worker-only.json"):
        reply = api("admin").post(f"/api/projects/{project.pk}/judge/", {"judge": name}, format="json")
        assert reply.status_code == 400, (name, reply.content)
        assert "database_password_field" not in reply.content.decode()
    # The CLI, run by an operator on the server, may name a file.
    with pytest.raises(services.ServiceError, match="database_password_field"):
        judging.resolve_config(project, str(secret_file), allow_files=True)


@pytest.fixture
def two_servers(settings, monkeypatch):
    """Two real OpenAI-compatible endpoints serving the same model name, as two providers."""
    first, second = FakeOpenAI(), FakeOpenAI()
    for server in (first, second):
        server.thread.start()
    monkeypatch.setenv("FAKE_KEY", API_KEY)
    settings.TANDEM_JUDGE_PROVIDERS = json.dumps({
        "east": {"base_url": first.base_url + "/", "api_key_env": "FAKE_KEY", "models": [MODEL]},
        "west": {"base_url": second.base_url, "api_key_env": "FAKE_KEY", "models": [MODEL]},
    })  # fmt: skip
    yield first, second
    for server in (first, second):
        server.server.shutdown()
        server.server.server_close()


def judge_cmd(project, name):
    call_command("judge", project=project.name, judge=name, json=True, stdout=open("/dev/null", "w"))  # noqa: SIM115


JUDGES = ("on-east", "on-west")


def test_two_endpoints_serving_the_same_model_name_never_share_answers(two_servers, tmp_path):
    east, west = two_servers
    project = project_with_pairs(tmp_path, n=2)
    spec = {"backend": "openai", "model": MODEL, "params": {"timeout_s": 5.0, "max_retries": 0}}
    project.judge_config = {"judges": {
        "on-east": {**spec, "params": {**spec["params"], "provider": "east"}},
        "on-west": {**spec, "params": {**spec["params"], "provider": "west"}},
    }}  # fmt: skip
    project.save()
    judge_cmd(project, "on-east")
    judge_cmd(project, "on-west")
    assert (east.calls(), west.calls()) == (4, 4)  # the second endpoint was asked, not the cache
    assert JudgeCall.objects.count() == 8
    rows = Judgment.objects.all()
    endpoints = {
        j: set(rows.filter(judge=j).values_list("detail__endpoint", flat=True))
        for j in ("on-east", "on-west")
    }
    assert endpoints == {"on-east": {f"east@{east.base_url}"}, "on-west": {f"west@{west.base_url}"}}
    assert (
        rows.filter(judge="on-east").first().config_hash != rows.filter(judge="on-west").first().config_hash
    )

    # The same judge re-pointed to the other provider is a new judge: judged again, not
    # skipped, and answered with what west already said to the same requests (its cache).
    project.judge_config["judges"]["on-east"]["params"]["provider"] = "west"
    project.save()
    judge_cmd(project, "on-east")
    repointed = rows.filter(judge="on-east").exclude(detail__endpoint=f"east@{east.base_url}")
    assert repointed.count() == 4 and set(repointed.values_list("detail__endpoint", flat=True)) == {
        f"west@{west.base_url}"
    }
    assert (east.calls(), west.calls(), JudgeCall.objects.count()) == (4, 4, 8)


@pytest.mark.parametrize(
    ("judge_config", "key"),
    [
        ({"judges": {"a": {"backend": "ensemble", "members": ["b"]},
                     "b": {"backend": "ensemble", "members": ["a"]}}}, "judge_config.judges.b.members[0]"),
        ({"judges": {"a": {"backend": "ensemble", "members": ["a"]}}}, "judge_config.judges.a.members[0]"),
        ({"judges": {"a": {"backend": "openai", "model": MODEL, "params": {"concurency": 4}}}},
         "judge_config.judges.a.params.concurency"),
        ({"judges": {"a": {"backend": "openai", "model": MODEL, "params": {"concurrency": "many"}}}},
         "judge_config.judges.a.params.concurrency"),
        ({"judges": {"a": {"backend": "openai", "model": MODEL, "params": {"provider": "nowhere"}}}},
         "judge_config.judges.a.params.provider"),
        ({"judges": {"a": {"backend": "gpt", "model": MODEL}}}, "judge_config.judges.a.backend"),
        ({"judges": {"a": {"backend": "hf", "template": "pairwise_v9"}}}, "judge_config.judges.a.template"),
        ({"judges": {"../x.json": {"backend": "hf"}}}, "judge_config.judges.../x.json"),
        ({"judges": {"a": {"model": "m"}}}, "judge_config.judges.a.backend"),
        ({"judges": []}, "judge_config.judges"),
        ({"jduges": {}}, "judge_config.jduges"),
    ],
)  # fmt: skip
def test_an_invalid_judge_config_is_a_400_that_names_the_key(api, judge_config, key):
    project = services.create_project("cfg")
    reply = api("admin").patch(f"/api/projects/{project.pk}/", {"judge_config": judge_config}, format="json")
    assert reply.status_code == 400, reply.content
    assert reply.json()["judge_config"]["key"] == [key] or reply.json()["judge_config"]["key"] == key
    project.refresh_from_db()
    assert project.judge_config == {}


def test_a_misspelled_param_suggests_the_right_one_and_lists_the_valid_keys(api):
    project = services.create_project("typo")
    config = {"judges": {"a": {"backend": "hf", "params": {"batchsize": 4}}}}
    message = json.dumps(api("admin").patch(f"/api/projects/{project.pk}/", {"judge_config": config},
                                            format="json").json())  # fmt: skip
    assert "did you mean 'batch_size'" in message and "share_prefix" in message


@pytest.mark.parametrize(
    ("routing_config", "key"),
    [
        ({"policy": {"uncertanty": 0.2}}, "routing_config.policy.uncertanty"),
        ({"policy": {"audit_rate": 2.0}}, "routing_config.policy"),
        ({"policy": {"budget_items": "ten"}}, "routing_config.policy.budget_items"),
        ({"review": {"suggestions": "sometimes"}}, "routing_config.review"),
        ({"review": {"holdout": 0}}, "routing_config.review"),
        ({"judges": "api"}, "routing_config.judges"),
    ],
)
def test_an_invalid_routing_config_is_a_400_that_names_the_key(api, routing_config, key):
    project = services.create_project("route-cfg")
    reply = api("admin").patch(
        f"/api/projects/{project.pk}/", {"routing_config": routing_config}, format="json"
    )
    assert reply.status_code == 400, reply.content
    assert key in json.dumps(reply.json())


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)  # what JSON can carry
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
judge_specs = st.fixed_dictionaries(
    {"backend": st.sampled_from(["openai", "hf", "ensemble", "replay", "x"])},
    optional={
        "model": json_values,
        "params": st.dictionaries(st.sampled_from(["concurrency", "tie", "provider", "batch_size", "few_shot",
                                                   "timeout_s", "votes", "zz"]), json_values, max_size=3),
        "members": st.lists(st.sampled_from(["a", "b", "smollm2"]) | json_values, max_size=2),
        "template": json_values,
    },
)  # fmt: skip


@hsettings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(config=st.fixed_dictionaries({"judges": st.dictionaries(st.sampled_from(["a", "b"]), judge_specs)}))
def test_no_judge_config_makes_the_api_fail(api, config):
    """Whatever JSON is written, the answer is 200 or a 400 naming a key, never a 500."""
    project = Project.objects.get_or_create(name="fuzz")[0]
    reply = api("admin").patch(f"/api/projects/{project.pk}/", {"judge_config": config}, format="json")
    assert reply.status_code in (200, 400), (config, reply.content)
    if reply.status_code == 400:
        assert "judge_config" in reply.json()


def test_bad_providers_setting_fails_the_system_check(settings):
    from django.core.management.base import SystemCheckError

    settings.TANDEM_JUDGE_PROVIDERS = '{"local": {"base_url": "file:///etc/passwd"}}'
    with pytest.raises(SystemCheckError, match=r"tandem.E001.*local\.base_url"):
        call_command("check")
