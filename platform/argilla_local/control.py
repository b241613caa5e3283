"""Start and stop a local argilla-server (web process and rq worker) by process id.

Standard library only: it runs from the app's venv (Makefile, tests) and starts the server's
own venv through `launch.py serve` / `launch.py worker`. Everything lives under one home
directory (var/argilla by default): the SQLite database, the auth secret, pid files, logs.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = Path(__file__).resolve().parent / "launch.py"
DEFAULT_HOME = ROOT / "var" / "argilla"
DEFAULT_VENV = ROOT / ".argilla-venv"
DEFAULT_PORT = 6900
DEFAULT_REDIS_PORT = 6391
PROCESSES = ("server", "worker")


class ArgillaStartError(RuntimeError):
    """The server did not come up; the message names the log to read."""


@dataclass
class LocalArgilla:
    """Where one local Argilla lives and how it is reached."""

    home: Path = DEFAULT_HOME
    venv: Path = DEFAULT_VENV
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    redis_url: str = f"redis://127.0.0.1:{DEFAULT_REDIS_PORT}/0"
    database_url: str | None = None  # None: SQLite in `home`
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_environment(cls) -> LocalArgilla:
        """Settings from TANDEM_ARGILLA_HOME (else TANDEM_VAR_DIR/argilla, else var/argilla),
        TANDEM_ARGILLA_PORT, TANDEM_ARGILLA_REDIS_PORT or ARGILLA_REDIS_URL, ARGILLA_DATABASE_URL."""
        redis_port = int(os.environ.get("TANDEM_ARGILLA_REDIS_PORT", DEFAULT_REDIS_PORT))
        return cls(
            home=Path(os.environ.get("TANDEM_ARGILLA_HOME") or _var_dir() / "argilla").resolve(),
            port=int(os.environ.get("TANDEM_ARGILLA_PORT", DEFAULT_PORT)),
            redis_url=os.environ.get("ARGILLA_REDIS_URL", f"redis://127.0.0.1:{redis_port}/0"),
            database_url=os.environ.get("ARGILLA_DATABASE_URL") or None,
        )

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def credentials_file(self) -> Path:
        return self.home / "credentials.json"

    def pid_file(self, name: str) -> Path:
        return self.home / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.home / f"{name}.log"

    def environment(self) -> dict[str, str]:
        """The server's settings (ARGILLA_*), on top of this process's environment."""
        self.home.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "ARGILLA_HOME_PATH": str(self.home),
            "ARGILLA_SEARCH_ENGINE": "sql",
            "ARGILLA_REDIS_URL": self.redis_url,
            "ARGILLA_AUTH_SECRET_KEY": auth_secret_key(self.home),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            **self.extra_env,
        }
        if self.database_url:
            env["ARGILLA_DATABASE_URL"] = self.database_url
        else:
            env.pop("ARGILLA_DATABASE_URL", None)
        return env


def _var_dir() -> Path:
    return Path(os.environ.get("TANDEM_VAR_DIR") or ROOT / "var")


def auth_secret_key(home: Path) -> str:
    """The server's token-signing key, kept in `home` (0600) so sign-ins survive restarts."""
    path = home / "auth_secret_key"
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_hex(32))
    return path.read_text().strip()


def run_launcher(argilla: LocalArgilla, *args: str, extra_env: dict[str, str] | None = None) -> str:
    """`launch.py ARGS` in the server's venv; returns its output, raises ArgillaStartError on failure."""
    result = subprocess.run(
        [str(argilla.python), str(LAUNCH), *args],
        env={**argilla.environment(), **(extra_env or {})},
        capture_output=True,
        text=True,
        cwd=argilla.home,
    )
    if result.returncode != 0:
        raise ArgillaStartError(f"`launch.py {' '.join(args)}` failed:\n{result.stderr[-2000:]}")
    return result.stdout


def running_pid(argilla: LocalArgilla, name: str) -> int | None:
    """The pid in `name`'s pid file if that process is alive, else None."""
    try:
        pid = int(argilla.pid_file(name).read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid


def start_process(argilla: LocalArgilla, name: str) -> int:
    """Start `launch.py NAME` (server or worker) in the background unless it runs; returns its pid."""
    pid = running_pid(argilla, name)
    if pid is not None:
        return pid
    command = [str(argilla.python), str(LAUNCH), name]
    if name == "server":
        command += ["--host", argilla.host, "--port", str(argilla.port)]
    with open(argilla.log_file(name), "ab") as log:
        process = subprocess.Popen(
            command,
            env=argilla.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=argilla.home,
            start_new_session=True,
        )
    argilla.pid_file(name).write_text(str(process.pid))
    return process.pid


def stop_process(argilla: LocalArgilla, name: str, timeout: float = 15) -> bool:
    """SIGTERM the process in `name`'s pid file (SIGKILL after `timeout`); False if none ran."""
    pid = running_pid(argilla, name)
    argilla.pid_file(name).unlink(missing_ok=True)
    if pid is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _reaped(pid):
                return True
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
    return True


def _reaped(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return True  # our own child: reaped now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def wait_until_up(argilla: LocalArgilla, timeout: float = 90) -> float:
    """Poll GET /api/v1/version until it answers; returns the seconds it took.

    Raises ArgillaStartError if the server exits or does not answer within `timeout`.
    """
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with (
            contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
            http_open(f"{argilla.api_url}/api/v1/version", timeout=2) as answer,
        ):
            if answer.status == 200:
                return time.monotonic() - started
        if running_pid(argilla, "server") is None:
            raise ArgillaStartError(
                f"argilla-server exited; see {argilla.log_file('server')}:\n{_tail(argilla)}"
            )
        time.sleep(0.1)
    raise ArgillaStartError(
        f"argilla-server did not answer within {timeout:.0f} s; see {argilla.log_file('server')}"
    )


def _tail(argilla: LocalArgilla, lines: int = 20) -> str:
    with contextlib.suppress(FileNotFoundError):
        return "\n".join(argilla.log_file("server").read_text(errors="replace").splitlines()[-lines:])
    return ""


def http_open(
    url: str,
    *,
    method: str = "GET",
    data: bytes | None = None,
    headers: dict | None = None,
    timeout: float = 30,
):
    """urllib's urlopen for http(s) URLs only (the local server's); raises ValueError for others."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url!r}")
    request = urllib.request.Request(url, method=method, data=data, headers=headers or {})  # noqa: S310
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 (scheme checked above)


def write_private_json(path: Path, data: dict) -> None:
    """Write `data` to `path` readable by its owner only (0600), atomically."""
    tmp = path.with_suffix(".tmp")
    descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(data, out, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
