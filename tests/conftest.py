"""Fixtures shared by every test: real services, started here and stopped by process id.

The platform's tests run on a throwaway PostgreSQL cluster by default (the production
database), started by the test settings (tandem/settings/test.py) before Django sets up;
`TANDEM_TEST_DB=sqlite pytest ...` runs them on SQLite (the embedded default).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from knox.models import AuthToken
from rest_framework.test import APIClient

from scripts.services import free_port, start_llama_server, start_redis
from tandem.core.models import Project
from tandem.core.roles import set_roles
from tests.openai_endpoint import API_KEY, FakeOpenAI
from tests.required import unavailable

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TANDEM_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def redis_url():
    server = start_redis()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        unavailable("the real data sets", f"not found at {SHARED_DATA}; set TANDEM_SHARED_DATA")
    return SHARED_DATA


ROLES = ["annotator", "auditor", "engineer", "admin"]
EVERY_PROJECT = "every project"  # user_factory's default: one team that owns every project


@pytest.fixture
def user_factory(db):
    """make(role, name=None, project=EVERY_PROJECT): a user (password pw-123456) whose only
    role is `role`: on `project` (a Project, a list of them, or [] for none), by default on
    every project that exists at the call (most tests are one team's). admin is global."""

    def make(role: str | None, name: str | None = None, project=EVERY_PROJECT):
        user, created = get_user_model().objects.get_or_create(username=name or f"{role}-user")
        if created:
            user.set_password("pw-123456")
            user.save()
        if role:
            if role == "admin":
                projects = []
            elif project == EVERY_PROJECT:
                projects = list(Project.objects.all())
            else:
                projects = list(project) if isinstance(project, list | tuple) else [project]
            set_roles(user, role, projects)
        return user

    return make


@pytest.fixture
def api(user_factory):
    """api(role, project=EVERY_PROJECT): an API client for a role (see user_factory), signed in
    by a new token of its own (None: anonymous)."""

    def client_for(role: str | None, project=EVERY_PROJECT) -> APIClient:
        client = APIClient()
        if role is not None:
            _, token = AuthToken.objects.create(user=user_factory(role, project=project))
            client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return client

    return client_for


@contextlib.contextmanager
def local_argilla(home: Path, redis_url: str):
    """A private local argilla-server: (LocalArgilla, credentials), stopped by pid afterwards."""
    from argilla_local import control, launch
    from argilla_local.install import InstallError, install

    try:
        install()
    except InstallError as error:
        unavailable("argilla-server", f"could not be installed into .argilla-venv: {error}")
    local = control.LocalArgilla(home=home, port=free_port(), redis_url=redis_url)
    with launch.running(local) as credentials:
        yield local, credentials


@pytest.fixture(scope="session")
def argilla(redis_url, tmp_path_factory):
    with local_argilla(Path(tmp_path_factory.mktemp("argilla-review")), f"{redis_url}/3") as running:
        yield running


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """Path of a saved tiny causal LM + tokenizer (the SmolLM2 tokenizer, vocab 49152)."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    from labeling.local_models import SMOLLM2, load_causal_lm

    tokenizer = load_causal_lm(SMOLLM2, device="cpu")[1]
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=0,
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    from django.conf import settings

    # In the operator's model folder: runs started from the API or the pages may read it there.
    path = Path(settings.TANDEM_MODEL_DIRS[0]) / f"tiny-smollm2-{os.getpid()}"
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    yield str(path)
    shutil.rmtree(path, ignore_errors=True)  # outside pytest's own temporary folders


@pytest.fixture(scope="session")
def fake_openai():
    """A real HTTP server speaking the OpenAI chat API, faults on demand (tests/openai_endpoint.py)."""
    fake = FakeOpenAI()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


LLAMA_ALIAS = "smollm2-135m-instruct"


@pytest.fixture(scope="session")
def llama_server():
    """A real OpenAI-compatible server: llama-cpp-python's, serving the offline SmolLM2 GGUF
    (`make llama` builds it into .llama-venv; `make test` does that first)."""
    from labeling.local_models import smollm2_location

    directory, gguf = smollm2_location()
    server = start_llama_server(directory / gguf, alias=LLAMA_ALIAS)
    yield server
    server.stop()


@pytest.fixture
def openai_env(monkeypatch, fake_openai):
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    return fake_openai
