"""Kill a real worker process mid-sync, with both lanes of the sync in flight on its two pool
processes: another worker finishes the sync, with every staged row stored or rejected exactly once.

What carries the sync on is what production relies on with Redis as the broker: beat's
`syncs.resume_stalled` (pipeline/services/recover.py) re-enqueues the lanes nobody has advanced for
BULK_SYNC_STALL_SECONDS. The killed worker's unacked messages stay unacked for the visibility timeout
(an hour, the default), so no timing of kombu's redelivery plays a part."""

import io
import json
import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from redis import Redis

from entities.opportunities.models import Opportunity
from pipeline.models import Reject, Sync, SyncLane
from pipeline.services import sync_start
from pipeline.staging import staged_rows_load_json
from tests.conftest import ROOT, WorkerProcess, database_url, wait_for
from tests.factories import ImportDefinitionFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
ROWS = 12_000
# Beat asks every second for lanes quiet for 3 s (production: every 30 s, for 300 s).
WORKER_ENV = {"BULK_SYNC_STALL_SECONDS": "3"}


def start_beat(tmp_path) -> subprocess.Popen:
    """A real `celery beat`, sending `syncs.resume_stalled` every second."""
    env = {**WORKER_ENV, "DATABASE_URL": database_url(), "REDIS_URL": django_settings.REDIS_URL,
           "BULK_SYNC_RESUME_SECONDS": "1"}  # fmt: skip
    log = open(tmp_path / "beat.log", "w")  # noqa: SIM115 - the process writes it until it is stopped
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO",
         "--schedule", str(tmp_path / "celerybeat-schedule")],
        cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def test_worker_killed_mid_sync_is_finished_by_another_worker_exactly_once(site, settings, tmp_path):
    settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_LANES = 1000, 2  # taken into the sync's snapshot
    rows = [
        {"OpportunityID": f"K{i}", "OpportunityName": f"Deal {i}", "Amount": "bad" if i % 1000 == 7 else str(i),
         "Stage": "Proposal"}
        for i in range(ROWS)
    ]  # fmt: skip
    definition = ImportDefinitionFactory(site=site)
    raw = json.dumps(rows).encode()
    staged_rows_load_json(definition=definition, stream=io.BytesIO(raw), content_length=len(raw))

    first = WorkerProcess(WORKER_ENV, concurrency=2)
    try:
        sync = sync_start(definition=definition, user=UserFactory(site=site))
        wait_for(lambda: Sync.objects.get(pk=sync.pk).processed >= 3000, timeout=120, interval=0.05)
        first.kill()  # SIGKILL to the main process and its pool: nothing is acked, a chunk is cut
    finally:
        first.stop()
    at_kill = Sync.objects.get(pk=sync.pk)
    assert at_kill.status == "active" and 0 < at_kill.processed < ROWS

    second = WorkerProcess(WORKER_ENV, concurrency=2)
    beat = start_beat(tmp_path)
    try:
        done = wait_for(
            lambda: (s := Sync.objects.get(pk=sync.pk)).status in ("success", "warning", "error") and s,
            timeout=180,
        )
    finally:
        beat.terminate()
        beat.wait(timeout=30)
        second.stop()
        # The killed worker's messages, unacked for an hour: no later worker of this run takes them.
        Redis.from_url(django_settings.CELERY_BROKER_URL).delete("unacked", "unacked_index")
    assert f"sync {sync.pk}: re-enqueued lanes" in (ROOT / second.log.name).read_text()  # beat's resume did it
    assert done.status == "warning"
    assert done.lanes == 2 and len(done.range_ends) == ROWS // 2000
    assert set(SyncLane.objects.filter(sync=done).values_list("lane", "next_range")) == {
        (0, ROWS // 2000),
        (1, ROWS // 2000),
    }
    assert done.processed == ROWS and done.rejected == ROWS // 1000
    assert Opportunity.objects.filter(site=site).count() == ROWS - ROWS // 1000
    indexes = list(Reject.objects.filter(sync=done).values_list("record_index", flat=True))
    assert sorted(indexes) == [i + 1 for i in range(ROWS) if i % 1000 == 7]  # each once, none twice
