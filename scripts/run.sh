#!/usr/bin/env bash
# Development server: migrate, make sure the demo site exists, then run the web server (gunicorn),
# two Celery workers (sync chunks on the `bulk` queue; callbacks and upkeep on `celery`) and Celery
# beat until Ctrl-C or until one of them dies (a worker that exits by itself is started again, up
# to 5 times a minute).  Run it as `make run`, which wraps it in
# scripts/with-services.sh (DATABASE_URL / REDIS_URL).
#
# While it runs, .run/env holds what a second terminal needs (DATABASE_URL, REDIS_URL, ...):
# manage.py reads it by itself (`make manage ARGS=...`, `make shell`); `. .run/env` exports it for
# anything else.  It is removed when run.sh stops.
#
# Stopping: each service runs in a session of its own, so the Ctrl-C that with-services.sh forwards
# to run.sh's process group reaches run.sh alone, never a worker's pool processes mid-chunk.  run.sh
# then sends each service SIGTERM: gunicorn finishes its requests, each Celery worker makes a warm
# shutdown (it takes nothing new, its running chunk commits, and the chunk's successor is left in
# the queue for the next worker) and run.sh waits up to STOP_TIMEOUT seconds (120) for them.  A
# second Ctrl-C stops them at once (the workers cold: a running chunk rolls back and is redone by
# the next worker).  A service whose run.sh dies gets SIGTERM.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PORT="${PORT:-8000}"
PY=.venv/bin/python
BASE="http://127.0.0.1:$PORT"
STOP_TIMEOUT="${STOP_TIMEOUT:-120}"
export PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-$BASE}"
# The local demo: Django's development mode (a development secret key, debug pages) unless the
# caller says otherwise; the server's own default is production's (DEBUG off, a strong key required).
export DJANGO_DEBUG="${DJANGO_DEBUG:-true}"
export METRICS_TOKEN="${METRICS_TOKEN:-demo-metrics-token}"

log() { printf 'run: %s\n' "$*" >&2; }

: "${DATABASE_URL:?DATABASE_URL is not set (use make run)}"
: "${REDIS_URL:?REDIS_URL is not set (use make run)}"

mkdir -p .run
SCHEDULE=".run/celerybeat-schedule-$$"
METRICS_DIR=".run/prometheus-$$"
RUN_ENV=".run/env"

PIDS=()
NAMES=()
CMDS=()
STOP_LEVEL=0
RC=0

# ---------------------------------------------------------------- .run/env

quote() { local s=${1//\'/\'\\\'\'}; printf "'%s'" "$s"; }

# Every variable of .env.example that is set here, as `export NAME='value'` lines.
write_run_env() {
    local tmp="$RUN_ENV.$$" name
    (
        umask 077
        {
            echo "# Written by make run (scripts/run.sh, pid $$); removed when it stops."
            echo "# manage.py in this checkout reads it by itself; for anything else: . .run/env"
            echo "MAKE_RUN_PID=$$"
            for name in $(sed -n 's/^\([A-Z][A-Z0-9_]*\)=.*/\1/p' .env.example); do
                if [[ -n ${!name+set} ]]; then printf 'export %s=%s\n' "$name" "$(quote "${!name}")"; fi
            done
        } >"$tmp"
    )
    mv -f "$tmp" "$RUN_ENV"
}

remove_run_env() {
    if grep -qx "MAKE_RUN_PID=$$" "$RUN_ENV" 2>/dev/null; then rm -f "$RUN_ENV"; fi
}

# ---------------------------------------------------------------- services

# spawn NAME CMD...: CMD as service NAME (see launch); its pid in PIDS, its command in CMDS.
spawn() {
    local name=$1; shift
    NAMES+=("$name")
    CMDS+=("$(printf '%q ' "$@")")
    PIDS+=(0)
    launch $((${#PIDS[@]} - 1))
}

# launch I: (re)start service I in a session of its own (a Ctrl-C meant for run.sh never reaches
# it), with the signals bash's background jobs ignore reset, and SIGTERM should run.sh die.
launch() {
    local i=$1
    eval "set -- ${CMDS[$i]}"
    "$PY" -c '
import ctypes, os, signal, sys
for sig in ("SIGINT", "SIGQUIT", "SIGTERM", "SIGPIPE", "SIGXFSZ"):
    signal.signal(getattr(signal, sig), signal.SIG_DFL)
os.setsid()
ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[1]):
    sys.exit("run.sh is gone")
os.execvp(sys.argv[2], sys.argv[2:])
' "$$" "$@" &
    PIDS[$i]=$!
}

# restart_allowed I: whether service I may start again: a Celery worker that exited by itself (an
# upstream crash, say, as kombu's while Redis is away), at most RESTART_LIMIT times a minute, as
# compose's `restart: unless-stopped` does for a deployment. Nothing is lost by the crash: a chunk
# in flight rolls back and its task, acknowledged late, goes to the next worker.
RESTART_LIMIT=5
declare -A RESTARTS_SINCE=() RESTARTS=()
restart_allowed() {
    local i=$1
    [[ ${NAMES[$i]} == worker* ]] || return 1
    if ((SECONDS - ${RESTARTS_SINCE[$i]:-0} > 60)); then
        RESTARTS_SINCE[$i]=$SECONDS
        RESTARTS[$i]=0
    fi
    RESTARTS[$i]=$((RESTARTS[$i] + 1))
    ((RESTARTS[$i] <= RESTART_LIMIT))
}

# signal_services SIG_FOR_WORKERS SIG_FOR_OTHERS
signal_services() {
    local i
    for i in "${!PIDS[@]}"; do
        if [[ ${NAMES[$i]} == worker* ]]; then
            kill -s "$1" "${PIDS[$i]}" 2>/dev/null || true
        else
            kill -s "$2" "${PIDS[$i]}" 2>/dev/null || true
        fi
    done
}

any_alive() {
    local pid
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && return 0; done
    return 1
}

# First INT/TERM: a graceful stop (TERM: gunicorn drains, workers shut down warm). Another: at once
# (QUIT: Celery's cold shutdown; INT: gunicorn's quick one).
on_signal() {
    RC=$1
    STOP_LEVEL=$((STOP_LEVEL + 1))
    if ((STOP_LEVEL == 1)); then
        log "stopping: workers finish their running chunk first (up to ${STOP_TIMEOUT}s; Ctrl-C again to stop at once) ..."
        remove_run_env
        signal_services TERM TERM
    else
        log "stopping at once ..."
        signal_services QUIT INT
    fi
}

# Wait for the services to stop, up to STOP_TIMEOUT seconds.
wait_stopped() {
    local deadline=$((SECONDS + STOP_TIMEOUT))
    while any_alive; do
        if ((SECONDS >= deadline)); then
            log "still running after ${STOP_TIMEOUT}s: killing what is left"
            return 1
        fi
        sleep 0.2
    done
}

cleanup() {
    remove_run_env
    if ((${#PIDS[@]})); then
        if any_alive; then # run.sh failed while they ran
            signal_services TERM TERM
            wait_stopped || true
        fi
        # Whatever is left of each service's session (pool processes, gunicorn workers).
        local pid
        for pid in "${PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
    fi
    wait 2>/dev/null || true
    rm -rf "$SCHEDULE" "$SCHEDULE".* "$METRICS_DIR"
}

trap 'on_signal 130' INT
trap 'on_signal 143' TERM
trap cleanup EXIT

$PY manage.py migrate --noinput
$PY manage.py createsite Demo --user demo --password demo-password --token demo-token --staff
write_run_env

mkdir -p "$METRICS_DIR"
PROMETHEUS_MULTIPROC_DIR="$ROOT/$METRICS_DIR" spawn web .venv/bin/gunicorn config.wsgi:application \
    --config python:config.gunicorn --worker-class config.gunicorn.JsonErrorWorker \
    --bind "127.0.0.1:$PORT" --workers "${WEB_CONCURRENCY:-2}" --timeout 120
spawn worker-bulk .venv/bin/celery -A config worker -Q bulk -n "bulk@%h" \
    --concurrency "${CELERY_CONCURRENCY:-2}" --loglevel=INFO
spawn worker .venv/bin/celery -A config worker -Q celery -n "celery@%h" --concurrency 1 --loglevel=INFO
spawn beat .venv/bin/celery -A config beat --loglevel=INFO --schedule "$SCHEDULE"
if [[ -n ${FLOWER_PORT:-} ]]; then
    spawn flower .venv/bin/celery -A config flower --address=127.0.0.1 --port="$FLOWER_PORT"
fi

# Wait (up to 60 s) for the web server to answer before printing the banner.
for ((i = 0; i < 120 && STOP_LEVEL == 0; i++)); do
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

FLOWER_LINE=" Flower:    FLOWER_PORT=5555 make run starts it"
[[ -n ${FLOWER_PORT:-} ]] && FLOWER_LINE=" Flower:    http://127.0.0.1:$FLOWER_PORT/"
((STOP_LEVEL == 0)) && cat >&2 <<BANNER

================================================================
 Bulk API server running on $BASE
   site:      Demo
   user:      demo
   password:  demo-password
   Basic:     Demo\\demo:demo-password
   token:     demo-token
   admin:     $BASE/admin/  (user Demo\\demo or demo, password demo-password)

 Try:
   curl -s -H 'Authorization: Bearer demo-token' $BASE/id
   curl -s -u 'Demo\\demo:demo-password' $BASE/api/bulk/2.0/opportunities/fields
   curl -s -H 'Authorization: Bearer $METRICS_TOKEN' $BASE/metrics

 In another terminal of this checkout:
   make manage ARGS="syncs list"      (any manage.py command; make shell)
   . .run/env                         (DATABASE_URL, REDIS_URL, ... for celery inspect & co)

 Database:  $DATABASE_URL
 Redis:     $REDIS_URL
$FLOWER_LINE
 Ctrl-C stops everything (workers finish their running chunk first).
================================================================

BANNER

# Run until one of the services exits or a signal asks us to stop.
while ((STOP_LEVEL == 0)); do
    dead=""
    rc=0
    wait -n -p dead "${PIDS[@]}" || rc=$?
    [[ -z ${dead:-} ]] && continue # a signal interrupted the wait (on_signal ran)
    name="?"
    slot=""
    for i in "${!PIDS[@]}"; do [[ ${PIDS[$i]} == "$dead" ]] && name=${NAMES[$i]} && slot=$i; done
    if [[ -n $slot ]] && ((STOP_LEVEL == 0)) && restart_allowed "$slot"; then
        log "$name (pid $dead) exited with status $rc; starting it again"
        kill -KILL -- "-$dead" 2>/dev/null || true # what is left of its session (pool processes)
        launch "$slot"
        continue
    fi
    log "$name (pid $dead) exited with status $rc; stopping the others"
    RC=$((rc == 0 ? 1 : rc))
    STOP_LEVEL=1
    remove_run_env
    signal_services TERM TERM
done

wait_stopped || true
exit "$RC" # cleanup (EXIT) kills what is left
