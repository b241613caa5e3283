#!/usr/bin/env bash
# `make demo`: the main job on the embedded default, one stage per step. Every stage is
# idempotent: run it again and it continues (nothing is sampled, imported or judged twice).
#   DEMO_SERVE=0 make demo      run the stages and exit instead of serving the web app
#   TANDEM_PORT=8000            where the web app listens (127.0.0.1 only)
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
export TANDEM_VAR_DIR=${TANDEM_VAR_DIR:-$PWD/var}
PORT=${TANDEM_PORT:-8000}
REDIS_PORT=${TANDEM_REDIS_PORT:-6389}
SHARED=${TANDEM_SHARED_DATA:-$PWD/../shared/data}
export CELERY_BROKER_URL=${CELERY_BROKER_URL:-redis://127.0.0.1:$REDIS_PORT/0}
export CACHE_URL=${CACHE_URL:-rediscache://127.0.0.1:$REDIS_PORT/1}
export DJANGO_SETTINGS_MODULE=tandem.settings.base
DEMO=$TANDEM_VAR_DIR/demo
mkdir -p "$DEMO"
manage() { "$PY" manage.py "$@"; }
stage() { printf '\n\033[1m== %s ==\033[0m\n' "$*"; }

stop_services() {
    for name in server worker; do
        [ -f "$DEMO/$name.pid" ] && kill "$(cat "$DEMO/$name.pid")" 2>/dev/null || true
        rm -f "$DEMO/$name.pid"
    done
    "$PY" scripts/services.py redis stop --dir "$DEMO/redis" >/dev/null 2>&1 || true
    if [ "${DEMO_ARGILLA:-1}" = "1" ]; then "$PY" platform/argilla_local/launch.py down >/dev/null 2>&1 || true; fi
}
trap stop_services EXIT
trap 'exit 130' INT TERM  # Ctrl-C or a kill: leave through the EXIT trap, which stops everything

stage "1/10 database ($TANDEM_VAR_DIR/tandem.sqlite3)"
manage migrate -v0
manage collectstatic --noinput -v0

stage "2/10 project 'demo'"
manage create_project demo --description "Tandem's own prompts, answered by SmolLM2-135M-Instruct" \
    --rubric-file demo/rubric.md
manage shell -v0 -c "from tandem.core.models import Project as P; p = P.objects.get(name='demo');
p.routing_config = p.routing_config or {'policy': {'version': 1, 'uncertainty': 0.1, 'audit_rate': 0.1}}; p.save()"

stage "3/10 Redis on 127.0.0.1:$REDIS_PORT (the job broker; the worker starts with the web app)"
"$PY" scripts/services.py redis start --port "$REDIS_PORT" --dir "$DEMO/redis"

stage "4/10 users, one per role, members of 'demo' (saved in $DEMO/credentials.txt)"
if [ ! -s "$DEMO/credentials.txt" ]; then
    umask 077
    {
        manage create_user admin --role admin
        for role in engineer auditor annotator; do
            manage create_user "$role" --role "$role" --project demo
        done
    } > "$DEMO/credentials.txt"
fi
cat "$DEMO/credentials.txt"

stage "5/10 pairs: 3 responses per prompt from the offline policy (SmolLM2-135M-Instruct), imported"
manage generate --project demo --prompts demo/prompts.jsonl --n 3 --max-new-tokens 80

stage "6/10 judge: SmolLM2 on every pair, both orders (offline, resumable)"
manage judge --project demo --judge smollm2

stage "7/10 route: flips, uncertain verdicts and a 10% blind audit sample go to humans"
manage route --project demo

stage "8/10 human review: a real local Argilla, the routed pairs pushed to it"
if [ "${DEMO_ARGILLA:-1}" = "1" ]; then
    "$PY" platform/argilla_local/launch.py up
    ARGILLA_API_KEY=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['users']['owner']['api_key'])" \
        "$TANDEM_VAR_DIR/argilla/credentials.json")
    export ARGILLA_API_KEY ARGILLA_API_URL=http://127.0.0.1:${TANDEM_ARGILLA_PORT:-6900}
    manage sync_argilla --project demo --annotator annotator1 --annotator annotator2 --annotator annotator3
    echo "annotators: open $ARGILLA_API_URL and sign in as annotator1..3 (passwords above); the worker"
    echo "pulls their labels into Tandem every minute (or run: manage.py sync_argilla --project demo)"
else
    echo "skipped (DEMO_ARGILLA=0)"
fi

stage "9/10 real data sets with human labels and recorded judge verdicts"
if [ -d "$SHARED" ]; then
    echo "real data found in $SHARED: importing LLMBar Natural and MT-Bench (human labels + recorded verdicts)"
    manage import_pairs --project llmbar-natural --create-project --format llmbar "$SHARED/llmbar/LLMBar/Natural"
    manage import_pairs --project mtbench --create-project --format mtbench \
        --skip-invalid "$SHARED/mtbench/mtbench_human_vs_gpt4pair.jsonl.gz"
    manage audit --project mtbench --judge mtbench:gpt-4 | sed -n '1,12p'
    manage route --project mtbench --replay | head -5
else
    echo "not found ($SHARED): skipped; set TANDEM_SHARED_DATA to import them"
fi

stage "10/10 web app"
DEMO_ID=$(manage shell -v 0 -c "from tandem.core.models import Project; print(Project.objects.get(name='demo').pk)")
cat <<EOF
  pipeline   http://127.0.0.1:$PORT/projects/$DEMO_ID/   (the demo project: every stage, what to do next)
  pages      http://127.0.0.1:$PORT/            (sign in with a user above)
  admin      http://127.0.0.1:$PORT/admin/      (user 'admin')
  API docs   http://127.0.0.1:$PORT/api/docs/   (token auth: header 'Authorization: Token <api token>')
  e.g.       curl -H 'Authorization: Token <engineer api token>' http://127.0.0.1:$PORT/api/projects/
EOF
if [ "${DEMO_SERVE:-1}" = "1" ]; then
    # -B: the worker also runs the schedule (labels are pulled from Argilla every minute).
    scripts/worker.sh -B --schedule "$DEMO/celerybeat-schedule" -Q default,gpu --pool solo \
        --loglevel WARNING --logfile "$DEMO/worker.log" >/dev/null 2>&1 &
    echo $! > "$DEMO/worker.pid"
    echo "background jobs: Celery worker pid $(cat "$DEMO/worker.pid"), log $DEMO/worker.log"
    echo "serving on 127.0.0.1:$PORT; Ctrl-C stops the app, the worker and Redis"
    "$PY" manage.py runserver "127.0.0.1:$PORT" --noreload &  # not `manage`: $! must be the server
    echo $! > "$DEMO/server.pid"
    wait "$(cat "$DEMO/server.pid")"
fi
