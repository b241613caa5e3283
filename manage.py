#!/usr/bin/env python
"""Tandem's command line: Django's manage.py with platform/ as the source root."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def main() -> None:
    # platform/ holds the Django project; it is a source root, never a package (a package named
    # `platform` would shadow the standard library's and break `import uuid`).
    sys.path.insert(0, str(ROOT / "platform"))
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tandem.settings.base")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
