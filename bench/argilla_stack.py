"""A throwaway local Argilla for the Argilla benchmarks: Redis, optionally PostgreSQL, the server.

Each benchmark starts its own stack in a temporary directory on free ports (never the demo's
var/argilla), and stops every process it started, by process id, when it ends.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for source in (ROOT / "platform", ROOT):
    if str(source) not in sys.path:
        sys.path.insert(0, str(source))


@contextlib.contextmanager
def local_argilla(database: str = "sqlite") -> Iterator[tuple[object, dict]]:
    """(LocalArgilla, credentials) of a fresh server on `database` ("sqlite" or "postgresql")."""
    from argilla_local import control, launch

    from scripts.services import free_port, start_postgres, start_redis

    redis = start_redis()
    postgres = start_postgres() if database == "postgresql" else None
    local = control.LocalArgilla(
        home=Path(tempfile.mkdtemp(prefix=f"bench-argilla-{database}-")),
        port=free_port(),
        redis_url=f"{redis.url}/0",
        database_url=postgres and f"postgresql+asyncpg://postgres@127.0.0.1:{postgres.port}/tandem",
    )
    said = io.StringIO()  # launch.up prints the users' passwords and keys: shown only if it fails
    try:
        with contextlib.ExitStack() as stack:
            try:
                with contextlib.redirect_stdout(said):
                    credentials = stack.enter_context(launch.running(local))
            except Exception:
                sys.stderr.write(said.getvalue())
                raise
            yield local, credentials
    finally:
        if postgres is not None:
            postgres.stop()
        redis.stop()
