"""The local Argilla's users: an owner with an API key, workspace "tandem", annotators.

Idempotent: credentials are generated once and kept in HOME/credentials.json (0600); a user that
exists is left alone, one that is missing (a fresh database) is created with the kept
credentials. The owner comes from argilla-server's own CLI (it needs no running server), the
annotators through the REST API as that owner.
"""

from __future__ import annotations

import json
import secrets
import urllib.error
from typing import Any

from argilla_local.control import LocalArgilla, http_open, run_launcher, write_private_json

WORKSPACE = "tandem"
OWNER = "owner"
ANNOTATORS = ("annotator1", "annotator2", "annotator3")


class BootstrapError(RuntimeError):
    """A REST call to the local Argilla failed; the message has the status and the body."""


def load_credentials(argilla: LocalArgilla) -> dict[str, Any]:
    """The kept credentials, with any that are missing generated (not yet saved)."""
    path = argilla.credentials_file
    kept = json.loads(path.read_text()) if path.exists() else {}
    users = kept.get("users", {})
    for username in (OWNER, *ANNOTATORS):
        users.setdefault(username, {"password": secrets.token_urlsafe(12)})
    users[OWNER].setdefault("api_key", "owner.apikey." + secrets.token_urlsafe(24))
    return {"api_url": argilla.api_url, "workspace": WORKSPACE, "users": users}


def prepare_database(argilla: LocalArgilla, credentials: dict[str, Any]) -> None:
    """Migrate the database and create the owner and workspace (`launch.py prepare`, server venv)."""
    owner = credentials["users"][OWNER]
    run_launcher(
        argilla,
        "prepare",
        extra_env={
            "TANDEM_ARGILLA_OWNER_PASSWORD": owner["password"],
            "TANDEM_ARGILLA_OWNER_API_KEY": owner["api_key"],
        },
    )


def create_annotators(argilla: LocalArgilla, credentials: dict[str, Any]) -> dict[str, Any]:
    """Annotators in the workspace, created through the API; returns credentials with their API keys.

    Raises BootstrapError when the owner's API key is refused (a database made with other
    credentials: remove HOME to start over) or a call fails.
    """
    api = _Api(argilla.api_url, credentials["users"][OWNER]["api_key"])
    existing = {user["username"]: user for user in api.call("GET", "/api/v1/users")["items"]}
    workspace = next(
        (item for item in api.call("GET", "/api/v1/me/workspaces")["items"] if item["name"] == WORKSPACE),
        None,
    )
    if workspace is None:
        workspace = api.call("POST", "/api/v1/workspaces", {"name": WORKSPACE})
    members = {
        user["username"] for user in api.call("GET", f"/api/v1/workspaces/{workspace['id']}/users")["items"]
    }
    for username in ANNOTATORS:
        user = existing.get(username) or api.call(
            "POST",
            "/api/v1/users",
            {
                "username": username,
                "first_name": username,
                "role": "annotator",
                "password": credentials["users"][username]["password"],
            },
        )
        if username not in members:
            api.call("POST", f"/api/v1/workspaces/{workspace['id']}/users", {"user_id": user["id"]})
        credentials["users"][username]["api_key"] = user["api_key"]
    write_private_json(argilla.credentials_file, credentials)
    return credentials


def describe(credentials: dict[str, Any]) -> str:
    """Human-readable sign-in lines (user, role, password, API key)."""
    lines = [f"Argilla UI and API: {credentials['api_url']} (workspace {credentials['workspace']!r})"]
    for username, user in credentials["users"].items():
        role = "owner" if username == OWNER else "annotator"
        lines.append(
            f"  {username:<11} {role:<9} password {user['password']}  api key {user.get('api_key', '?')}"
        )
    return "\n".join(lines)


class _Api:
    def __init__(self, api_url: str, api_key: str):
        self.api_url = api_url
        self.api_key = api_key

    def call(self, method: str, path: str, body: dict | None = None) -> Any:
        headers = {"X-Argilla-Api-Key": self.api_key, "Content-Type": "application/json"}
        data = None if body is None else json.dumps(body).encode()
        try:
            with http_open(self.api_url + path, method=method, data=data, headers=headers) as answer:
                return json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:500]
            hint = (
                " (the owner's API key was refused: remove the Argilla home to start over)"
                if error.code == 401
                else ""
            )
            raise BootstrapError(f"{method} {path}: HTTP {error.code}{hint}: {detail}") from error
