#!/usr/bin/env bash
# A Celery worker for Tandem's background jobs: `scripts/worker.sh [celery worker options]`.
# platform/ is the Django source root, so it goes on the path before Celery looks for `tandem`.
# e.g. scripts/worker.sh -Q default,gpu --pool solo -B   (-B: also run the schedule)
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/platform:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-tandem.settings.base}
exec .venv/bin/celery -A tandem worker "$@"
