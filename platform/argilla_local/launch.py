"""A local argilla-server 2.8.0 with the SQL search engine: serve it, or start and stop the stack.

    python platform/argilla_local/launch.py up       install if needed, Redis, migrate, users,
                                                     server + worker in the background
    python platform/argilla_local/launch.py down     stop them (and the Redis `up` started)
    python platform/argilla_local/launch.py status
    .argilla-venv/bin/python platform/argilla_local/launch.py serve [--port 6900]
    .argilla-venv/bin/python platform/argilla_local/launch.py worker

`serve` and `worker` run in the server's venv and load the plugin before the app. Settings:
TANDEM_ARGILLA_HOME (default $TANDEM_VAR_DIR/argilla, else var/argilla), TANDEM_ARGILLA_PORT
(6900), TANDEM_ARGILLA_REDIS_PORT (6391) or ARGILLA_REDIS_URL, ARGILLA_DATABASE_URL
(postgresql+asyncpg://...; SQLite in the home if unset).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

PLATFORM = Path(__file__).resolve().parents[1]
ROOT = PLATFORM.parent
if str(PLATFORM) not in sys.path:
    sys.path.insert(0, str(PLATFORM))

from argilla_local import bootstrap, control  # noqa: E402 (the source roots above come first)


def serve(host: str, port: int) -> None:
    """Serve argilla_server:app with uvicorn, the SQL engine registered (in the server's venv)."""
    _server_settings()
    import uvicorn

    import argilla_local.sql_engine  # noqa: F401 (registers the "sql" engine)

    uvicorn.run("argilla_server:app", host=host, port=port, log_level="warning", access_log=False)


def worker() -> None:
    """Run argilla-server's rq worker on its queues with the SQL engine registered."""
    _server_settings()
    from argilla_server.jobs.queues import DEFAULT_QUEUE, HIGH_QUEUE, REDIS_CONNECTION
    from rq import Worker

    import argilla_local.sql_engine  # noqa: F401 (jobs run in forks of this process)

    Worker([HIGH_QUEUE, DEFAULT_QUEUE], connection=REDIS_CONNECTION).work(logging_level="WARNING")


def prepare() -> None:
    """Migrate the database and create the owner and workspace, in one process (imports are slow).

    The owner's credentials come from TANDEM_ARGILLA_OWNER_PASSWORD / _API_KEY (not argv, which
    `ps` shows); argilla-server's CLI skips a user that exists.
    """
    _server_settings()
    from argilla_server.cli import app

    app(["database", "migrate"], standalone_mode=False)
    app(
        [
            "database",
            "users",
            "create",
            "--username",
            bootstrap.OWNER,
            "--first-name",
            "Owner",
            "--role",
            "owner",
            "--workspace",
            bootstrap.WORKSPACE,
            "--password",
            os.environ["TANDEM_ARGILLA_OWNER_PASSWORD"],
            "--api-key",
            os.environ["TANDEM_ARGILLA_OWNER_API_KEY"],
        ],
        standalone_mode=False,
    )


def _server_settings() -> None:
    os.environ.setdefault("ARGILLA_SEARCH_ENGINE", "sql")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    if os.environ["ARGILLA_SEARCH_ENGINE"] != "sql":
        sys.exit("launch.py serves the SQL search engine: unset ARGILLA_SEARCH_ENGINE or set it to 'sql'")


def up(argilla: control.LocalArgilla) -> dict:
    """Bring the whole local stack up (each step skips what is already done); returns credentials."""
    from argilla_local.install import install

    install(argilla.venv)
    _ensure_redis(argilla)
    started = time.monotonic()
    print("argilla: migrating the database ...", flush=True)
    credentials = bootstrap.load_credentials(argilla)
    bootstrap.prepare_database(argilla, credentials)
    print(f"argilla: database and owner ready in {time.monotonic() - started:.1f} s", flush=True)
    for name in control.PROCESSES:
        pid = control.start_process(argilla, name)
        print(f"argilla: {name} pid {pid}, log {argilla.log_file(name)}", flush=True)
    seconds = control.wait_until_up(argilla)
    print(f"argilla: {argilla.api_url}/api/v1/version answered after {seconds:.1f} s", flush=True)
    credentials = bootstrap.create_annotators(argilla, credentials)
    print(bootstrap.describe(credentials))
    print(f"argilla: credentials in {argilla.credentials_file} (mode 0600)")
    return credentials


@contextlib.contextmanager
def running(argilla: control.LocalArgilla) -> Iterator[dict]:
    """The stack up for a `with` block (tests, benchmarks): yields the credentials, and stops the
    server and worker by pid on the way out, also when `up` failed half way. The Redis it uses
    is the caller's (`argilla.redis_url`), so it is left alone."""
    try:
        yield up(argilla)
    finally:
        for name in control.PROCESSES:
            control.stop_process(argilla, name)


def down(argilla: control.LocalArgilla) -> None:
    """Stop the server, the worker and the Redis that `up` started, each by its pid."""
    for name in control.PROCESSES:
        stopped = control.stop_process(argilla, name)
        print(f"argilla: {name} {'stopped' if stopped else 'was not running'}")
    RedisServer = _services().RedisServer

    redis_dir = argilla.home / "redis"
    if (redis_dir / "redis.pid").exists():
        RedisServer(redis_dir, 0).stop()
        print("argilla: redis stopped")


def status(argilla: control.LocalArgilla) -> int:
    """Print what runs; returns 0 when the server answers."""
    for name in control.PROCESSES:
        pid = control.running_pid(argilla, name)
        print(f"argilla: {name} {'pid ' + str(pid) if pid else 'not running'}")
    try:
        seconds = control.wait_until_up(argilla, timeout=2)
    except control.ArgillaStartError:
        print(f"argilla: {argilla.api_url} does not answer")
        return 1
    print(f"argilla: {argilla.api_url} answers ({seconds:.2f} s)")
    return 0


def _ensure_redis(argilla: control.LocalArgilla) -> None:
    """Start a Redis for the server unless its URL already answers (Argilla exits without one)."""
    address = urlparse(argilla.redis_url)
    host, port = address.hostname or "127.0.0.1", address.port or 6379
    with socket.socket() as sock, contextlib.suppress(OSError):
        if sock.connect_ex((host, port)) == 0:
            print(f"argilla: redis {host}:{port} answers; using it", flush=True)
            return
    if host not in ("127.0.0.1", "localhost"):
        raise control.ArgillaStartError(f"Redis at {argilla.redis_url} does not answer")
    server = _services().start_redis(argilla.home / "redis", port)
    print(f"argilla: started redis {server.url} (pid file {server.directory / 'redis.pid'})", flush=True)


def _services():
    """scripts/services.py (the repository's throwaway Redis/PostgreSQL starters)."""
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))
    from scripts import services

    return services


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("up", "down", "status", "worker", "prepare"):
        commands.add_parser(name)
    server = commands.add_parser("server", aliases=["serve"])
    server.add_argument("--host", default="127.0.0.1")
    server.add_argument(
        "--port", type=int, default=int(os.environ.get("TANDEM_ARGILLA_PORT", control.DEFAULT_PORT))
    )
    args = parser.parse_args()
    if args.command in ("server", "serve"):
        serve(args.host, args.port)
    elif args.command == "worker":
        worker()
    elif args.command == "prepare":
        prepare()
    else:
        argilla = control.LocalArgilla.from_environment()
        try:
            if args.command == "up":
                up(argilla)
            elif args.command == "down":
                down(argilla)
            else:
                sys.exit(status(argilla))
        except (control.ArgillaStartError, bootstrap.BootstrapError, RuntimeError) as error:
            sys.exit(f"argilla: {error}")


if __name__ == "__main__":
    main()
