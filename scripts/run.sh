#!/usr/bin/env bash
# Development server: migrate, make sure the demo site exists, then run the
# web server (gunicorn), a Celery worker and Celery beat until Ctrl-C or until
# one of them dies.  Run it as `make run`, which wraps it in
# scripts/with-services.sh (DATABASE_URL / REDIS_URL).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PORT="${PORT:-8000}"
PY=.venv/bin/python
BASE="http://127.0.0.1:$PORT"
export PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-$BASE}"

log() { printf 'run: %s\n' "$*" >&2; }

: "${DATABASE_URL:?DATABASE_URL is not set (use make run)}"
: "${REDIS_URL:?REDIS_URL is not set (use make run)}"

$PY manage.py migrate --noinput
$PY manage.py createsite Demo --user demo --password demo-password --token demo-token

mkdir -p .run
SCHEDULE=".run/celerybeat-schedule-$$"

PIDS=()
NAMES=()
STOPPING=""

stop_all() {
    [[ -n $STOPPING ]] && return 0
    STOPPING=1
    trap '' INT TERM
    local i pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    # Give them time for a warm shutdown, then kill what is left.
    for ((i = 0; i < 150; i++)); do
        local alive=""
        for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [[ -z $alive ]] && break
        sleep 0.2
    done
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -f "$SCHEDULE" "$SCHEDULE".*
}

trap 'log "stopping ..."; stop_all; exit 130' INT
trap 'log "stopping ..."; stop_all; exit 143' TERM
trap 'stop_all' EXIT

start() {
    local name=$1; shift
    "$@" &
    PIDS+=("$!")
    NAMES+=("$name")
}

start web .venv/bin/gunicorn config.wsgi:application \
    --bind "127.0.0.1:$PORT" --workers "${WEB_CONCURRENCY:-2}" --timeout 120 \
    --worker-class config.gunicorn.JsonErrorWorker
start worker .venv/bin/celery -A config worker --loglevel=INFO \
    --concurrency "${CELERY_CONCURRENCY:-2}" -Q celery,bulk
start beat .venv/bin/celery -A config beat --loglevel=INFO --schedule "$SCHEDULE"

# Wait (up to 60 s) for the web server to answer before printing the banner.
for ((i = 0; i < 120; i++)); do
    if $PY - "$BASE/" <<'PY' 2>/dev/null; then break; fi
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=1)
except urllib.error.HTTPError:
    pass  # any HTTP answer means it is up
PY
    kill -0 "${PIDS[0]}" 2>/dev/null || break
    sleep 0.5
done

cat >&2 <<BANNER

================================================================
 Bulk API server running on $BASE
   site:      Demo
   user:      demo
   password:  demo-password
   Basic:     Demo\\demo:demo-password
   token:     demo-token

 Try:
   curl -s -H 'Authorization: Bearer demo-token' $BASE/id
   curl -s -u 'Demo\\demo:demo-password' $BASE/api/bulk/2.0/opportunities/fields

 Database:  $DATABASE_URL
 Redis:     $REDIS_URL
 Ctrl-C stops everything.
================================================================

BANNER

# Run until one of the three exits (or we get INT/TERM).
rc=0
dead=""
wait -n -p dead "${PIDS[@]}" && rc=0 || rc=$?
name="?"
for i in "${!PIDS[@]}"; do [[ ${PIDS[$i]} == "$dead" ]] && name=${NAMES[$i]}; done
log "$name (pid ${dead:-?}) exited with status $rc; stopping the others"
stop_all
exit $(( rc == 0 ? 1 : rc ))
