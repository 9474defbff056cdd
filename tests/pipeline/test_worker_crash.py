"""Kill a real worker process mid-sync, with both lanes of the sync in flight on its two pool
processes: the redelivered tasks finish on another worker with every staged row stored or rejected
exactly once."""

import io
import json
import time

import pytest

from entities.opportunities.models import Opportunity
from pipeline.models import Reject, Sync, SyncLane
from pipeline.services import sync_start
from pipeline.staging import staged_rows_load_json
from tests.conftest import WorkerProcess, wait_for
from tests.factories import ImportDefinitionFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
ROWS = 30_000
# A lane quiet for 3 s is carried on by a redelivered message (the killed worker may have committed
# its chunk without sending the lane's next message; beat, not running here, would resume it too).
WORKER_ENV = {"CELERY_VISIBILITY_TIMEOUT": "4", "BULK_SYNC_STALL_SECONDS": "3"}


def test_worker_killed_mid_sync_is_finished_by_another_worker_exactly_once(site, settings):
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
    # A starting worker gives back the unacked messages older than the visibility timeout; after
    # that, kombu sweeps for them only every 100 s (unacked_restore_interval x throttle).
    time.sleep(int(WORKER_ENV["CELERY_VISIBILITY_TIMEOUT"]) + 1)

    second = WorkerProcess(WORKER_ENV, concurrency=2)
    try:
        done = wait_for(
            lambda: (s := Sync.objects.get(pk=sync.pk)).status in ("success", "warning", "error") and s,
            timeout=180,
        )
    finally:
        second.stop()
    assert done.status == "warning"
    assert done.lanes == 2 and len(done.range_ends) == ROWS // 2000
    assert set(SyncLane.objects.filter(sync=done).values_list("lane", "next_range")) == {(0, 15), (1, 15)}
    assert done.processed == ROWS and done.rejected == ROWS // 1000
    assert Opportunity.objects.filter(site=site).count() == ROWS - ROWS // 1000
    indexes = list(Reject.objects.filter(sync=done).values_list("record_index", flat=True))
    assert sorted(indexes) == [i + 1 for i in range(ROWS) if i % 1000 == 7]  # each once, none twice
