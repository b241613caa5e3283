"""The repository's shape: platform/ is a source root, the pure packages stay pure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_platform_is_never_a_package():
    assert not (ROOT / "platform" / "__init__.py").exists()


def test_standard_library_platform_still_works_from_the_repo_root():
    code = "import platform, uuid; print(platform.system(), uuid.uuid4().version)"
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.split() == ["Linux", "4"]


def test_pure_packages_import_without_django():
    code = (
        "import importlib, pkgutil, sys\n"
        "for name in ['labeling', 'audits', 'training']:\n"
        "    pkg = importlib.import_module(name)\n"
        "    for mod in pkgutil.walk_packages(pkg.__path__, name + '.'):\n"
        "        importlib.import_module(mod.name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'django', 'rest_framework', 'tandem'})\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
