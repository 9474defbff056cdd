"""`make run` end to end (scripts/with-services.sh scripts/run.sh on the test database and Redis):
it leaves .run/env for a second terminal while it runs, and a Ctrl-C or SIGTERM stops its workers warm: the
chunk in flight commits, its successor waits in the queue, and the next worker goes on with the
sync at once (no stall sweep: beat's would come after BULK_SYNC_STALL_SECONDS)."""

import io
import json
import os
import signal
import socket
import subprocess
import sys

import psycopg
import pytest
from django.conf import settings

from config.celery import app
from config.runenv import RUN_ENV, run_env_read
from kernel.broker import broker_client, queue_lengths
from pipeline.models import Sync, SyncLane
from pipeline.services import sync_start
from pipeline.staging import staged_rows_load_json
from tests.conftest import ROOT, WorkerProcess, database_url, wait_for
from tests.factories import ImportDefinitionFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
ROWS, CHUNK = 300, 100


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def make_run(no_live_make_run):
    """`make run` as the Makefile starts it, on the test database and Redis (so with-services.sh
    starts no servers of its own); its own session, like a terminal's foreground job. A stale
    .run/env is removed first; only a live make run of this checkout skips it (tests/ops/conftest.py)."""
    env = {
        **os.environ, "DATABASE_URL": database_url(), "REDIS_URL": settings.REDIS_URL, "PORT": str(_free_port()),
        "WEB_CONCURRENCY": "1", "CELERY_CONCURRENCY": "1", "BULK_SYNC_STALL_SECONDS": "3600",
        "DJANGO_DEBUG": "true", "STOP_TIMEOUT": "90",
    }  # fmt: skip
    log = open(ROOT / ".run" / "make-run-test.log", "w+")  # noqa: SIM115
    proc = subprocess.Popen(
        ["scripts/with-services.sh", "scripts/run.sh"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    proc.log = log
    yield proc
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=150)
    log.close()


def _log(proc) -> str:
    proc.log.flush()
    return (ROOT / ".run" / "make-run-test.log").read_text()


def _staged_definition(site, settings, *, prefix: str):
    """A definition with ROWS staged rows, synced in chunks of CHUNK rows by one lane (settings
    taken into the sync's snapshot)."""
    settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_LANES = CHUNK, 1
    definition = ImportDefinitionFactory(site=site)
    raw = json.dumps([{"OpportunityID": f"{prefix}{i}", "OpportunityName": f"Deal {i}", "Amount": "1",
                       "Stage": "Proposal"} for i in range(ROWS)]).encode()  # fmt: skip
    staged_rows_load_json(definition=definition, stream=io.BytesIO(raw), content_length=len(raw))
    return definition


def test_a_stop_lets_the_running_chunk_commit_and_the_next_worker_goes_on(site, make_run, settings):
    """SIGTERM to make (a service manager stopping it); a Ctrl-C takes the same way (with-services.sh
    forwards SIGINT as it does SIGTERM, and run.sh traps both alike)."""
    stop = signal.SIGTERM
    # given: a running make run, and a sync of 3 chunks whose first chunk a lock holds mid-flight
    definition = _staged_definition(site, settings, prefix="R")
    worker = f"bulk@{socket.gethostname()}"
    wait_for(lambda: app.control.ping(destination=[worker], timeout=0.5), timeout=120)

    run_env = run_env_read()
    assert run_env is not None and run_env.running and run_env.pid != make_run.pid
    assert run_env.values["DATABASE_URL"] == database_url()
    assert run_env.values["REDIS_URL"] == settings.REDIS_URL
    # A second terminal's manage.py, with no DATABASE_URL of its own, works on make run's database.
    shell = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", "from django.db import connection; print(connection.settings_dict['NAME'])"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
    )  # fmt: skip
    assert shell.stdout.splitlines()[-1] == settings.DATABASES["default"]["NAME"], shell.stderr

    with psycopg.connect(database_url(), autocommit=False) as lock:
        lock.execute("LOCK TABLE opportunities_opportunity IN EXCLUSIVE MODE")
        sync = sync_start(definition=definition, user=UserFactory(site=site))
        wait_for(
            lambda: lock.execute(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'opportunities_opportunity'::regclass"
            ).fetchone()[0],
            timeout=60,
        )
        # when: Ctrl-C, or a SIGTERM to make (with-services.sh forwards either to run.sh's process group)
        os.kill(make_run.pid, stop)
        wait_for(lambda: "stopping: workers finish their running chunk" in _log(make_run), timeout=30)
        assert make_run.poll() is None  # the worker waits for its chunk
        lock.rollback()  # the chunk goes on

    # then: make run stops, with the chunk in flight committed and nothing else taken
    assert make_run.wait(timeout=120) == 128 + stop
    assert not RUN_ENV.exists()
    log = _log(make_run)
    assert "Warm shutdown" in log
    assert "WorkerLostError" not in log and "Traceback" not in log
    stopped = Sync.objects.get(pk=sync.pk)
    assert stopped.status == "active" and stopped.processed == CHUNK
    assert SyncLane.objects.get(sync=stopped, lane=0).next_range == 1
    assert queue_lengths(broker_client())["bulk"] == 1  # the chunk's successor, for the next worker

    # and: the next worker finishes the sync from the queue (no beat runs, nothing is stalled)
    successor = WorkerProcess()
    try:
        done = wait_for(lambda: (s := Sync.objects.get(pk=sync.pk)).status == "success" and s, timeout=120)
    finally:
        successor.stop()
    assert done.processed == ROWS and done.created_count == ROWS and done.rejected == 0


def _bulk_worker_pid(worker: str) -> int | None:
    stats = app.control.inspect(destination=[worker], timeout=1).stats() or {}
    return stats.get(worker, {}).get("pid")


def test_a_worker_that_dies_is_started_again_and_syncs(site, make_run, settings):
    """A Celery worker of make run that exits by itself (here: killed, as a crash would end it) is
    started again, as compose's `restart: unless-stopped` does, and the next sync runs on it."""
    definition = _staged_definition(site, settings, prefix="K")
    worker = f"bulk@{socket.gethostname()}"
    first = wait_for(lambda: _bulk_worker_pid(worker), timeout=120)

    os.kill(first, signal.SIGKILL)
    wait_for(lambda: f"worker-bulk (pid {first}) exited with status 137; starting it again" in _log(make_run))
    second = wait_for(lambda: (pid := _bulk_worker_pid(worker)) not in (None, first) and pid, timeout=120)
    assert second != first and make_run.poll() is None

    sync = sync_start(definition=definition, user=UserFactory(site=site))
    done = wait_for(lambda: (s := Sync.objects.get(pk=sync.pk)).status == "success" and s, timeout=120)
    assert done.processed == ROWS and done.created_count == ROWS
    assert make_run.poll() is None and "stopping the others" not in _log(make_run)
