import io
import json

from pipeline.models import Sync
from pipeline.services import sync_run_chunk, sync_start
from pipeline.staging import staged_rows_load_json


def stage(definition, rows):
    raw = json.dumps(rows).encode()
    staged_rows_load_json(definition=definition, stream=io.BytesIO(raw), content_length=len(raw))


def staged_sync(definition, rows=None, user=None, **kwargs) -> Sync:
    """Stage `rows` (if given) and make the definition's sync of them (`sync_start`), by `user` or a
    new user of the definition's site; not run (see `drive`)."""
    from tests.factories import UserFactory

    if rows is not None:
        stage(definition, rows)
    return sync_start(definition=definition, user=user or UserFactory(site=definition.site), **kwargs)


def run_sync(definition, rows=None, user=None, chunks=None) -> Sync:
    """Stage `rows`, start a sync and run it to the end in this process (no worker)."""
    sync = staged_sync(definition, rows, user=user)
    drive(sync.pk, chunks=chunks)
    sync.refresh_from_db()
    return sync


def drive(sync_id: int, chunks: int | None = None) -> int:
    """Run the sync's lanes in this process, one chunk of each in turn (as workers interleave them),
    until the sync has ended or `chunks` chunk runs were made; returns how many ran. A lane that
    is not started yet (lane 0 starts the others once through range 0) does nothing when run."""
    lanes = Sync.objects.get(pk=sync_id).lanes
    steps = 0
    while Sync.objects.filter(pk=sync_id, status__in=["pending", "active"]).exists():
        for lane in range(lanes):
            sync_run_chunk(sync_id=sync_id, lane=lane)
            steps += 1
            if chunks is not None and steps >= chunks:
                return steps
        if steps > 100_000:
            raise RuntimeError(f"sync {sync_id} does not end")
    return steps
