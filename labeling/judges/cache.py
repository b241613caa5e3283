"""The call cache: every model call is keyed by the sha256 of its full request, so an
identical request is answered from the cache and a re-run never pays for a call twice.

Only completed calls are stored (a reply, even one without a verdict); failed calls are not,
so a re-run retries exactly those. The platform provides a database-backed implementation of
the same protocol.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


def canonical_json(value: Any) -> str:
    """Key-sorted compact JSON: equal values give equal text, hence equal hashes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_key(request: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a request (model, messages, sampling params)."""
    return hashlib.sha256(canonical_json(request).encode("utf-8")).hexdigest()


@runtime_checkable
class CallCache(Protocol):
    """Synchronous key-value store of call results (JSON-serializable dicts).

    Judges call it from a worker thread, so implementations may block (a database).
    """

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored result, or None when the key was never stored."""
        ...

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Store `value` under `key` (last write wins)."""
        ...


class MemoryCallCache:
    """A dict: for tests and one-process runs."""

    def __init__(self) -> None:
        self._data: dict[str, str] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        raw = self._data.get(key)
        return json.loads(raw) if raw is not None else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        # Stored as JSON text so a cached result cannot be mutated through a returned dict.
        self._data[key] = canonical_json(value)

    def __len__(self) -> int:
        return len(self._data)


class SqliteCallCache:
    """A sqlite3 file shared by runs on one machine (safe across threads of one process)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS judge_calls "
                "(key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL)"
            )

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM judge_calls WHERE key = ?", (key,))
            found = row.fetchone()
        return json.loads(found[0]) if found else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO judge_calls (key, value, created) VALUES (?, ?, ?)",
                (key, canonical_json(value), time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM judge_calls").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
