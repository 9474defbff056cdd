#!/usr/bin/env bash
# Usage: scripts/with-services.sh CMD [ARGS...]
#
# Runs CMD with DATABASE_URL and REDIS_URL pointing at a PostgreSQL and a
# Redis.  Whatever is already set in the environment is used as is; for each
# of the two that is missing, a private, throwaway server is started on a free
# 127.0.0.1 port (data under .run/svc-PID.XXXX), and stopped again and its
# files removed when CMD exits or when this script gets SIGINT/SIGTERM.
# Only processes started by this script are ever stopped.
#
# PG_MODE picks the private cluster's settings: `fast` (the default, for
# tests: fsync, synchronous_commit and full_page_writes off; wal_level
# replica, so a test can start a streaming replica of it) or `durable` (for benchmarks: every durability setting on,
# wal_level replica, and what a DBA would tune for a bulk-loading server;
# pg_stat_statements loaded).  PG_SHARED_BUFFERS sizes shared_buffers in
# durable mode (default 1GB).
#
# If the server binaries are missing and apt-get is usable (root or
# password-less sudo), the Debian packages `postgresql` / `redis-server` are
# installed.  PostgreSQL refuses to run as root: as root, the cluster is run
# as the `postgres` user, or as a system user `bulkpg` created on demand.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROG="with-services"

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [[ $# -eq 0 ]]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi

# ----------------------------------------------------------------- helpers

free_port() {
    python3 - <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

# Is this pid alive and is its command name one of the given names?
pid_is() {
    local pid=$1; shift
    [[ -n $pid && -r /proc/$pid/comm ]] || return 1
    local comm; comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    local n
    for n in "$@"; do [[ $comm == "$n"* ]] && return 0; done
    return 1
}

APT_PREFIX=()
apt_usable() {
    command -v apt-get >/dev/null 2>&1 || return 1
    if [[ $(id -u) -eq 0 ]]; then
        APT_PREFIX=(); return 0
    fi
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        APT_PREFIX=(sudo -n); return 0
    fi
    return 1
}

APT_UPDATED=
apt_install() {
    apt_usable || return 1
    log "installing Debian package(s): $* (apt-get) ..."
    if [[ -z $APT_UPDATED ]]; then
        "${APT_PREFIX[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || return 1
        APT_UPDATED=1
    fi
    "${APT_PREFIX[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "$@" >&2
}

# Directory holding initdb/pg_ctl/postgres, or empty.
find_pg_bindir() {
    local d
    if command -v pg_config >/dev/null 2>&1; then
        d=$(pg_config --bindir 2>/dev/null || true)
        if [[ -n $d && -x $d/initdb && -x $d/pg_ctl ]]; then echo "$d"; return; fi
    fi
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5n | tail -n1 || true)
    if [[ -n $d && -x $d/initdb && -x $d/pg_ctl ]]; then echo "$d"; return; fi
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        d=$(dirname "$(command -v pg_ctl)")
        [[ -x $d/initdb ]] && { echo "$d"; return; }
    fi
    echo ""
}

# -------------------------------------------------------- stale run dirs
# A run dir whose owning script (svc-PID.*) is gone was left by a script that
# was SIGKILLed.  Stop the servers recorded in it (checking the pid really is
# postgres/redis-server) and remove it.
reap_stale() {
    local d owner pid
    shopt -s nullglob
    for d in "$ROOT"/.run/svc-*; do
        [[ -d $d ]] || continue
        owner=${d##*/svc-}; owner=${owner%%.*}
        [[ $owner =~ ^[0-9]+$ ]] || continue
        if kill -0 "$owner" 2>/dev/null; then continue; fi
        if [[ -f $d/pgdata/postmaster.pid ]]; then
            pid=$(head -n1 "$d/pgdata/postmaster.pid" 2>/dev/null || true)
            if pid_is "$pid" postgres; then
                log "stopping stale PostgreSQL (pid $pid) from $d"
                kill -QUIT "$pid" 2>/dev/null || true
            fi
        fi
        if [[ -f $d/redis.pid ]]; then
            pid=$(cat "$d/redis.pid" 2>/dev/null || true)
            if pid_is "$pid" redis-server; then
                log "stopping stale Redis (pid $pid) from $d"
                kill -TERM "$pid" 2>/dev/null || true
            fi
        fi
        rm -rf "$d" 2>/dev/null || true
    done
    shopt -u nullglob
}

# ------------------------------------------------------------------ state

RUN_DIR=""
PG_DATA=""
PG_BINDIR=""
PG_USER=""
PG_STARTED=""
PG_EXTRA_DIR=""     # data dir outside .run if .run is not reachable by PG_USER
REDIS_PID=""
CHILD=""
GOT_SIGNAL=""
SIGNAL_COUNT=0
CLEANED=""

as_pg() {
    # Run a command as the PostgreSQL OS user (or as ourselves if not root).
    if [[ -z $PG_USER ]]; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        runuser -u "$PG_USER" -- "$@"
    else
        local q; printf -v q '%q ' "$@"
        su -s /bin/sh "$PG_USER" -c "$q"
    fi
}

cleanup() {
    [[ -n $CLEANED ]] && return 0
    CLEANED=1
    trap '' INT TERM
    if [[ -n $CHILD ]] && kill -0 "$CHILD" 2>/dev/null; then
        # Child still running (we are exiting because of an error or a signal).
        kill -TERM -- "-$CHILD" 2>/dev/null || kill -TERM "$CHILD" 2>/dev/null || true
        local i
        for ((i = 0; i < 100; i++)); do kill -0 "$CHILD" 2>/dev/null || break; sleep 0.1; done
        kill -KILL -- "-$CHILD" 2>/dev/null || kill -KILL "$CHILD" 2>/dev/null || true
    fi
    if [[ -n $PG_DATA && ( -n $PG_STARTED || -f $PG_DATA/postmaster.pid ) ]]; then
        log "stopping private PostgreSQL ..."
        if ! (cd / && as_pg "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -m fast -w -t 30 stop >/dev/null 2>&1); then
            local pid
            pid=$(head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null || true)
            if pid_is "$pid" postgres; then
                kill -QUIT "$pid" 2>/dev/null || true
                sleep 1
                pid_is "$pid" postgres && kill -KILL "$pid" 2>/dev/null || true
            fi
        fi
    fi
    if [[ -n $REDIS_PID ]] && kill -0 "$REDIS_PID" 2>/dev/null; then
        log "stopping private Redis ..."
        kill -TERM "$REDIS_PID" 2>/dev/null || true
        local i
        for ((i = 0; i < 50; i++)); do kill -0 "$REDIS_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$REDIS_PID" 2>/dev/null || true
        wait "$REDIS_PID" 2>/dev/null || true
    fi
    # make run's .run/env (scripts/run.sh) names servers that are gone now, if its run.sh could not remove it.
    local owner=${CHILD:-${CHILD_DONE:-}}
    if [[ -n $owner ]] && grep -qx "MAKE_RUN_PID=$owner" "$ROOT/.run/env" 2>/dev/null; then rm -f "$ROOT/.run/env"; fi
    [[ -n $PG_EXTRA_DIR ]] && rm -rf "$PG_EXTRA_DIR"
    [[ -n $RUN_DIR ]] && rm -rf "$RUN_DIR"
    return 0
}

on_signal() {
    local sig=$1
    GOT_SIGNAL=$sig
    SIGNAL_COUNT=$((SIGNAL_COUNT + 1))
    if [[ -z $CHILD ]]; then
        # Still starting servers: tear down and leave.
        log "got SIG$sig while starting services; cleaning up"
        cleanup
        [[ $sig == INT ]] && exit 130 || exit 143
    fi
    # Forward to the child's process group; escalate on repeated signals.
    # The launcher ignores SIGINT until it has reset it and called setsid():
    # give it a moment to get there (its pgid then equals its pid).
    local i stat pgrp
    for ((i = 0; i < 50; i++)); do
        stat=$(cat "/proc/$CHILD/stat" 2>/dev/null) || break
        stat=${stat##*) }
        read -r _ _ pgrp _ <<<"$stat"
        [[ $pgrp == "$CHILD" ]] && break
        sleep 0.05
    done
    local fwd=$sig
    ((SIGNAL_COUNT == 2)) && fwd=TERM
    ((SIGNAL_COUNT >= 3)) && fwd=KILL
    kill -s "$fwd" -- "-$CHILD" 2>/dev/null || kill -s "$fwd" "$CHILD" 2>/dev/null || true
}

trap cleanup EXIT
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM

# --------------------------------------------------------------- services

make_run_dir() {
    [[ -n $RUN_DIR ]] && return 0
    mkdir -p "$ROOT/.run"
    chmod 755 "$ROOT/.run" 2>/dev/null || true
    reap_stale
    RUN_DIR=$(mktemp -d "$ROOT/.run/svc-$$.XXXXXX")
    chmod 755 "$RUN_DIR"
}

start_postgres() {
    PG_BINDIR=$(find_pg_bindir)
    if [[ -z $PG_BINDIR ]]; then
        apt_install postgresql || die "PostgreSQL server binaries not found and apt-get is not usable; install PostgreSQL or set DATABASE_URL"
        PG_BINDIR=$(find_pg_bindir)
        [[ -n $PG_BINDIR ]] || die "PostgreSQL installed but initdb/pg_ctl not found"
    fi

    if [[ $(id -u) -eq 0 ]]; then
        if id -u postgres >/dev/null 2>&1; then
            PG_USER=postgres
        else
            if ! id -u bulkpg >/dev/null 2>&1; then
                log "creating system user bulkpg to run PostgreSQL"
                useradd --system --no-create-home --shell /usr/sbin/nologin bulkpg 2>/dev/null \
                    || id -u bulkpg >/dev/null 2>&1 \
                    || die "could not create system user bulkpg"
            fi
            PG_USER=bulkpg
        fi
    fi

    make_run_dir
    local base=$RUN_DIR
    # The unprivileged user must be able to reach the run dir, and the
    # socket path must fit in sun_path (~107 bytes).
    if [[ -n $PG_USER ]] && ! (cd / && as_pg test -x "$RUN_DIR") 2>/dev/null \
        || (( ${#RUN_DIR} > 80 )); then
        PG_EXTRA_DIR=$(mktemp -d /tmp/bulkpg.XXXXXX)
        chmod 755 "$PG_EXTRA_DIR"
        base=$PG_EXTRA_DIR
    fi
    PG_DATA=$base/pgdata
    local sockdir=$base/pgsock
    mkdir -p "$PG_DATA" "$sockdir"
    chmod 700 "$PG_DATA"
    [[ -n $PG_USER ]] && chown "$PG_USER" "$PG_DATA" "$sockdir"

    local locale=C
    if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then locale=C.UTF-8; fi

    log "initdb in ${PG_DATA#"$ROOT"/} (user ${PG_USER:-$(id -un)}, PostgreSQL $("$PG_BINDIR/postgres" -V | awk '{print $3}')) ..."
    if ! (cd / && as_pg "$PG_BINDIR/initdb" -D "$PG_DATA" -A trust -U postgres \
            --no-sync -E UTF8 --locale="$locale" >"$base/initdb.log" 2>&1); then
        cat "$base/initdb.log" >&2
        die "initdb failed"
    fi

    cat >>"$PG_DATA/postgresql.conf" <<CONF

# --- throwaway cluster (scripts/with-services.sh, PG_MODE=$PG_MODE) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$sockdir'
max_connections = 200
logging_collector = off
# A lost host (frozen, cut off) keeps no transaction or lock past about a minute (docs/scaling.md
# "Settings that bound a lost host"); config/settings.py sends the same per session.
idle_in_transaction_session_timeout = 60s
tcp_keepalives_idle = 30
tcp_keepalives_interval = 10
tcp_keepalives_count = 3
client_connection_check_interval = 10s
CONF
    if [[ $PG_MODE == durable ]]; then
        # Durable, as production runs: nothing here trades safety for speed.  The rest is what
        # a DBA tunes on a server that takes bulk loads (README "Benchmarks").
        cat >>"$PG_DATA/postgresql.conf" <<CONF
fsync = on
synchronous_commit = on
full_page_writes = on
wal_level = replica
wal_compression = lz4
wal_buffers = 64MB
max_wal_size = 8GB
min_wal_size = 1GB
checkpoint_timeout = 15min
checkpoint_completion_target = 0.9
shared_buffers = ${PG_SHARED_BUFFERS:-1GB}
effective_cache_size = 4GB
maintenance_work_mem = 256MB
random_page_cost = 1.1
effective_io_concurrency = 200
log_checkpoints = on
track_io_timing = on
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.max = 1000
pg_stat_statements.track = top
CONF
    else
        cat >>"$PG_DATA/postgresql.conf" <<CONF
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
# replica, not minimal: the read-replica tests (tests/scale/test_replica.py) take a pg_basebackup
# of this cluster and stream from it.
wal_level = replica
max_wal_senders = 4
checkpoint_timeout = 30min
max_wal_size = 2GB
CONF
    fi

    local attempt port
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        echo "port = $port" >>"$PG_DATA/postgresql.conf"
        log "starting private PostgreSQL ($PG_MODE) on 127.0.0.1:$port ..."
        if (cd / && as_pg "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/postgres.log" \
                -w -t 60 start >/dev/null 2>&1); then
            PG_STARTED=1
            break
        fi
        # Maybe the port was taken in the meantime: retry with another one.
        if grep -q "could not bind\|Address already in use" "$PG_DATA/postgres.log" 2>/dev/null; then
            log "port $port busy, retrying"
            continue
        fi
        tail -n 30 "$PG_DATA/postgres.log" >&2 2>/dev/null || true
        die "PostgreSQL did not start"
    done
    [[ -n $PG_STARTED ]] || die "PostgreSQL did not start (no free port?)"

    local i ready=
    for ((i = 0; i < 100; i++)); do
        if "$PG_BINDIR/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres 2>/dev/null; then
            ready=1; break
        fi
        sleep 0.1
    done
    [[ -n $ready ]] || die "PostgreSQL on port $port does not answer"

    "$PG_BINDIR/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres \
        -v ON_ERROR_STOP=1 -c 'CREATE DATABASE bulk' >/dev/null \
        || die "could not create database bulk"
    if [[ $PG_MODE == durable ]]; then
        "$PG_BINDIR/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d bulk \
            -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' >/dev/null \
            || die "could not create extension pg_stat_statements"
    fi

    export DATABASE_URL="postgres://postgres@127.0.0.1:$port/bulk"
}

redis_ping() {
    python3 - "$1" <<'PY'
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
    s.sendall(b"PING\r\n")
    ok = s.recv(16).startswith(b"+PONG")
    s.close()
except OSError:
    ok = False
sys.exit(0 if ok else 1)
PY
}

start_redis() {
    local bin
    bin=$(command -v redis-server || true)
    if [[ -z $bin ]]; then
        apt_install redis-server || die "redis-server not found and apt-get is not usable; install Redis or set REDIS_URL"
        bin=$(command -v redis-server || true)
        [[ -n $bin ]] || die "redis-server installed but not found in PATH"
    fi
    make_run_dir

    local setsid_cmd=()
    command -v setsid >/dev/null 2>&1 && setsid_cmd=(setsid)

    local attempt port i up
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        log "starting private Redis on 127.0.0.1:$port ..."
        # Own session: a Ctrl-C on the terminal does not reach it; we stop it.
        "${setsid_cmd[@]}" "$bin" --bind 127.0.0.1 --port "$port" \
            --save "" --appendonly no --daemonize no \
            --dir "$RUN_DIR" --pidfile "$RUN_DIR/redis.pid" \
            --logfile "$RUN_DIR/redis.log" </dev/null &
        REDIS_PID=$!
        up=
        for ((i = 0; i < 100; i++)); do
            if ! kill -0 "$REDIS_PID" 2>/dev/null; then break; fi
            if redis_ping "$port"; then up=1; break; fi
            sleep 0.1
        done
        [[ -n $up ]] && break
        if kill -0 "$REDIS_PID" 2>/dev/null; then
            kill -KILL "$REDIS_PID" 2>/dev/null || true
        fi
        wait "$REDIS_PID" 2>/dev/null || true
        REDIS_PID=""
        if grep -qi "address already in use" "$RUN_DIR/redis.log" 2>/dev/null; then
            log "port $port busy, retrying"
            continue
        fi
        tail -n 20 "$RUN_DIR/redis.log" >&2 2>/dev/null || true
        die "Redis did not start"
    done
    [[ -n $up ]] || die "Redis did not start (no free port?)"
    export REDIS_URL="redis://127.0.0.1:$port/0"
}

PG_MODE=${PG_MODE:-fast}
case $PG_MODE in
    fast|durable) ;;
    *) die "PG_MODE must be fast or durable, not '$PG_MODE'" ;;
esac
if [[ -z ${DATABASE_URL:-} ]]; then start_postgres; fi
if [[ -z ${REDIS_URL:-} ]]; then start_redis; fi

# -------------------------------------------------------------------- run

# Run CMD as a child in its own session/process group, so that signals can
# be forwarded to it and to everything it started.  Bash makes background
# jobs of a script ignore SIGINT/SIGQUIT (and that survives exec), so reset
# those -- plus SIGPIPE/SIGXFSZ, which python ignores -- to the default first.
python3 -c '
import os, signal, sys
for name in ("SIGINT", "SIGQUIT", "SIGPIPE", "SIGXFSZ", "SIGTERM"):
    signal.signal(getattr(signal, name), signal.SIG_DFL)
os.setsid()
try:
    os.execvp(sys.argv[1], sys.argv[1:])
except OSError as e:
    sys.stderr.write("with-services: %s: %s\n" % (sys.argv[1], e.strerror))
    sys.exit(127 if isinstance(e, FileNotFoundError) else 126)
' "$@" &
CHILD=$!

rc=0
while :; do
    wait "$CHILD" && rc=0 || rc=$?
    # wait returns early (status > 128) when a trapped signal arrives;
    # keep waiting until the child has really gone.
    kill -0 "$CHILD" 2>/dev/null || break
done
CHILD_DONE=$CHILD
CHILD=""

# Whatever CMD started in its process group and left behind (e.g. workers of
# a server that was killed) is ours too: stop it.
if kill -0 -- "-$CHILD_DONE" 2>/dev/null; then
    log "stopping processes left behind by ${*:1:1}"
    kill -TERM -- "-$CHILD_DONE" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 -- "-$CHILD_DONE" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$CHILD_DONE" 2>/dev/null || true
fi

if [[ -n $GOT_SIGNAL ]]; then
    log "got SIG$GOT_SIGNAL; stopped ${*:1:1} (pid $CHILD_DONE)"
    cleanup
    [[ $GOT_SIGNAL == INT ]] && exit 130 || exit 143
fi
cleanup
exit "$rc"
