"""Install argilla-server 2.8.0 into its own virtual environment (.argilla-venv by default).

It cannot share the app's venv (ARGILLA.md: it pins pydantic, httpx, typer and urllib3 apart
from ours). Idempotent: a marker file in the venv names what was installed; a second run with
the same requirements does nothing.

    python platform/argilla_local/install.py [--venv .argilla-venv]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VENV = ROOT / ".argilla-venv"
# Exactly 2.8.0 and every dependency pinned with its hash (requirements/argilla-server.in says
# why 2.8.0 and click<8.2; `make lock` refreshes the lock).
LOCK = ROOT / "requirements" / "argilla-server.txt"
MARKER = ".tandem-installed"
INSTALL_TIMEOUT_S = 900


class InstallError(RuntimeError):
    """The venv could not be created or the packages could not be installed."""


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def is_installed(venv: Path = DEFAULT_VENV) -> bool:
    """Whether `venv` holds exactly the lock (its marker names the lock's hash) and runs."""
    marker = venv / MARKER
    return marker.is_file() and marker.read_text().strip() == _lock_hash() and venv_python(venv).exists()


def _lock_hash() -> str:
    return hashlib.sha256(LOCK.read_bytes()).hexdigest()


def _base_python() -> str:
    """A Python to create the venv with: the interpreter behind ours when ours is a venv."""
    candidate = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    return str(candidate) if candidate.exists() else sys.executable


def _run(args: list[str], what: str) -> None:
    print(f"argilla install: {what} ...", flush=True)
    started = time.monotonic()
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise InstallError(
            f"{what} took over {INSTALL_TIMEOUT_S} s (is a package registry reachable?)"
        ) from None
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise InstallError(f"{what} failed (exit {result.returncode}):\n" + "\n".join(tail))
    print(f"argilla install: {what} done in {time.monotonic() - started:.0f} s", flush=True)


def install(venv: Path = DEFAULT_VENV) -> Path:
    """Create `venv` and install argilla-server into it unless already done.

    Returns the venv's python. Raises InstallError when pip cannot get the packages (for
    example no package registry is reachable); a half-made venv is removed so the next run
    starts clean.
    """
    if is_installed(venv):
        print(f"argilla install: {venv} is up to date", flush=True)
        return venv_python(venv)
    try:
        if not venv_python(venv).exists():
            _run([_base_python(), "-m", "venv", str(venv)], f"create {venv}")
        _run(
            [
                str(venv_python(venv)),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "--require-hashes",
                "-r",
                str(LOCK),
            ],
            f"pip install -r {LOCK.relative_to(ROOT)} (about 80 s)",
        )
        _run(
            [str(venv_python(venv)), "-c", "import argilla_server.search_engine.base"],
            "check that argilla_server imports",
        )
    except InstallError:
        shutil.rmtree(venv, ignore_errors=True)
        raise
    tmp = venv / f"{MARKER}.tmp"
    tmp.write_text(_lock_hash() + "\n")
    os.replace(tmp, venv / MARKER)
    return venv_python(venv)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    args = parser.parse_args()
    try:
        python = install(args.venv.resolve())
    except InstallError as error:
        sys.exit(f"argilla install: {error}")
    print(f"argilla install: ready ({python})")


if __name__ == "__main__":
    main()
