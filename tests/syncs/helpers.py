import io
import json

from bulkapi.staging import staged_rows_load_json
from syncs.models import Sync
from syncs.services import sync_run_chunk, sync_start


def stage(definition, rows):
    raw = json.dumps(rows).encode()
    staged_rows_load_json(definition=definition, stream=io.BytesIO(raw), content_length=len(raw))


def run_sync(definition, rows=None, user=None, chunks=None) -> Sync:
    """Stage `rows`, start a sync and run it to the end in this process (no worker)."""
    from tests.factories import UserFactory

    if rows is not None:
        stage(definition, rows)
    sync = sync_start(definition=definition, user=user or UserFactory(site=definition.site))
    steps = 0
    while sync_run_chunk(sync_id=sync.pk).has_more:
        steps += 1
        if chunks is not None and steps >= chunks:
            break
    sync.refresh_from_db()
    return sync
