"""Abuse limits as an attacker meets them: sign-in lockout on both sign-in pages, API throttles
per user and per address (failed tokens included), and API tokens that are useless to whoever
reads the database."""

from __future__ import annotations

import io
import re

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from knox.models import AuthToken
from rest_framework.test import APIClient

from tandem.core import services

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("page", ["/accounts/login/", "/admin/login/"])
def test_sign_in_locks_after_repeated_failures_even_with_the_right_password(page, user_factory, settings):
    user_factory("admin")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        failed = client.post(page, {"username": "admin-user", "password": "wrong"})
        assert failed.status_code == 200 and "correct username and password" in failed.content.decode()
    locked = client.post(page, {"username": "admin-user", "password": "wrong"})
    assert locked.status_code == 429
    assert "Too many failed sign-ins for admin-user" in locked.content.decode()
    right = client.post(page, {"username": "admin-user", "password": "pw-123456"})
    assert right.status_code == 429 and "_auth_user_id" not in client.session
    # Another user from the same address is not locked out by someone else's guessing.
    user_factory("admin", name="second-admin")
    other = client.post(page, {"username": "second-admin", "password": "pw-123456"})
    assert other.status_code == 302


def test_a_success_before_the_limit_resets_the_count(user_factory, settings):
    user_factory("admin")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post("/accounts/login/", {"username": "admin-user", "password": "wrong"})
    assert (
        client.post("/accounts/login/", {"username": "admin-user", "password": "pw-123456"}).status_code
        == 302
    )
    client.post("/accounts/logout/")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post("/accounts/login/", {"username": "admin-user", "password": "wrong"})
    assert (
        client.post("/accounts/login/", {"username": "admin-user", "password": "pw-123456"}).status_code
        == 302
    )


@pytest.fixture
def low_rates(settings):
    cache.clear()  # the counts live in the cache, shared with earlier tests in this process
    settings.TANDEM_API_RATES = {"user": "3/minute", "anon": "2/minute"}
    yield
    cache.clear()


def test_a_user_over_the_rate_gets_429_and_when_to_retry(api, low_rates):
    services.create_project("p1")
    client = api("auditor")
    assert [client.get("/api/projects/").status_code for _ in range(3)] == [200, 200, 200]
    throttled = client.get("/api/jobs/")
    assert throttled.status_code == 429
    assert re.fullmatch(
        r"Request was throttled\. Expected available in \d+ seconds?\.", throttled.json()["detail"]
    )
    assert int(throttled.headers["Retry-After"]) > 0
    assert api("engineer").get("/api/projects/").status_code == 200  # counted per user


def test_guessing_tokens_from_one_address_gets_429(low_rates):
    guesser = APIClient()
    statuses = []
    for guess in ("a" * 64, "b" * 64, "c" * 64):
        guesser.credentials(HTTP_AUTHORIZATION=f"Token {guess}")
        statuses.append(guesser.get("/api/projects/").status_code)
    assert statuses == [401, 401, 429]


def issue_token(name: str, *args: str) -> str:
    out = io.StringIO()
    call_command("create_user", name, *args, stdout=out)
    return re.search(r"api token: (\S+)", out.getvalue()).group(1)


def test_the_database_holds_no_usable_token(db):
    """Knox keeps a SHA-512 digest and the first 15 characters; neither signs in, nor does any
    other stored value, and the token itself is nowhere in the table."""
    services.create_project("p1")
    token = issue_token("eve", "--role", "engineer", "--project", "p1")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/projects/").status_code == 200
    stored = list(AuthToken.objects.values_list())
    assert len(stored) == 1 and not any(token in str(value) for value in stored[0])
    for value in stored[0]:
        guess = APIClient()
        guess.credentials(HTTP_AUTHORIZATION=f"Token {value}")
        assert guess.get("/api/projects/").status_code == 401, value


def test_tokens_expire_after_the_configured_days(db, settings):
    from datetime import timedelta

    from django.utils import timezone

    issue_token("eve", "--role", "engineer")
    expiry = AuthToken.objects.get().expiry
    assert timedelta(days=29) < expiry - timezone.now() <= settings.REST_KNOX["TOKEN_TTL"]
