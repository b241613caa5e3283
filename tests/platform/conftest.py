from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tandem.core.roles import grant_role

ROLES = ["annotator", "auditor", "engineer", "admin"]


@pytest.fixture
def user_factory(db):
    def make(role: str | None, name: str | None = None):
        user, created = get_user_model().objects.get_or_create(username=name or f"{role}-user")
        if created:
            user.set_password("pw-123456")
            user.save()
        if role:
            grant_role(user, role)
        return user

    return make


@pytest.fixture
def api(user_factory):
    """An API client for a role, authenticated by its token (None: anonymous)."""

    def client_for(role: str | None) -> APIClient:
        client = APIClient()
        if role is not None:
            token, _ = Token.objects.get_or_create(user=user_factory(role))
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return client_for
