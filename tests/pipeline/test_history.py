"""History retention (pipeline.services.history, run by the retention purge): syncs that ended more
than BULK_HISTORY_SECONDS ago go with their rejects, logs and lanes, and a batch job with its
sync, stored file and row map; recent and running syncs, and everything of theirs, stay."""

from datetime import timedelta

import pytest
from django.utils import timezone

import pipeline.services.history
from doors.batch.models import BatchFile, BatchJob, BatchRow
from pipeline.models import Reject, StagedUpload, Sync, SyncLane, SyncLog
from pipeline.services.imports import imports_purge_expired
from tests.factories import BatchJobFactory, ImportDefinitionFactory, RejectFactory, SyncFactory, SyncLogFactory

pytestmark = pytest.mark.django_db

HISTORY = 30 * 86400


def ended(days_ago: float, **kwargs) -> Sync:
    """A warning sync that ended `days_ago`, with 3 rejects and 2 logs."""
    at = timezone.now() - timedelta(days=days_ago)
    sync = SyncFactory(status="warning", sync_ended_at=at, heartbeat_at=at, **kwargs)
    RejectFactory.create_batch(3, sync=sync)
    SyncLogFactory.create_batch(2, sync=sync)
    return sync


@pytest.fixture(autouse=True)
def small_batches(settings, monkeypatch):
    settings.BULK_HISTORY_SECONDS = HISTORY
    monkeypatch.setattr(pipeline.services.history, "PURGE_BATCH", 2)  # rejects go in 2 statements


def test_syncs_past_history_go_with_their_rejects_logs_and_lanes_and_the_others_stay(api):
    definition = ImportDefinitionFactory(site=api.site)
    old = ended(31, site=api.site, definition=definition)
    older = ended(40, site=api.site, definition=definition)
    recent = ended(29, site=api.site, definition=definition)
    running = SyncFactory(site=api.site, definition=ImportDefinitionFactory(site=api.site), status="active")
    Sync.objects.filter(pk=running.pk).update(heartbeat_at=timezone.now() - timedelta(days=40))  # stalled
    recent.retry_of = old  # a reference to a sync that goes
    recent.save(update_fields=["retry_of"])
    upload = StagedUpload.objects.create(definition=definition, content_type="text/csv", sync=old)
    assert api.get(f"/api/bulk/2.0/syncs/{old.pk}/rejects").json()["totalResults"] == 3

    purged = imports_purge_expired()

    assert (purged["syncs"], purged["rejects"], purged["logs"]) == (2, 6, 4)
    assert set(Sync.objects.values_list("pk", flat=True)) == {recent.pk, running.pk}
    assert set(Reject.objects.values_list("sync_id", flat=True)) == {recent.pk}
    assert Reject.objects.count() == 3 and SyncLog.objects.filter(sync=recent).count() == 2
    assert not SyncLog.objects.filter(sync_id__in=[old.pk, older.pk]).exists()
    assert not SyncLane.objects.filter(sync_id__in=[old.pk, older.pk]).exists()
    assert SyncLane.objects.filter(sync=recent).count() == 1
    recent.refresh_from_db()
    assert recent.retry_of_id is None
    assert not StagedUpload.objects.filter(pk=upload.pk, sync__isnull=False).exists()
    assert api.get(f"/api/bulk/2.0/syncs/{old.pk}").status_code == 404
    assert api.get(f"/api/bulk/2.0/syncs/{recent.pk}/rejects").json()["totalResults"] == 3
    assert imports_purge_expired()["syncs"] == 0


def test_history_zero_keeps_every_sync(settings):
    settings.BULK_HISTORY_SECONDS = 0
    ended(4000)
    assert imports_purge_expired()["syncs"] == 0
    assert Sync.objects.count() == 1 and Reject.objects.count() == 3


def test_a_batch_job_goes_with_its_sync_its_file_and_its_row_map():
    old = ended(31)
    recent = ended(1, site=old.site)
    jobs = {}
    for name, sync in (("old", old), ("recent", recent)):
        internal = ImportDefinitionFactory(site=sync.site, is_internal=True)
        job = BatchJobFactory(site=sync.site, sync=sync, definition=internal)
        BatchFile.objects.create(job=job, part=0, data=b"x")
        BatchRow.objects.create(job=job, row_number=1, opportunity_id=1)
        jobs[name] = job

    imports_purge_expired()

    assert list(BatchJob.objects.values_list("pk", flat=True)) == [jobs["recent"].pk]
    assert list(BatchFile.objects.values_list("job_id", flat=True)) == [jobs["recent"].pk]
    assert list(BatchRow.objects.values_list("job_id", flat=True)) == [jobs["recent"].pk]
    assert not type(old.definition).objects.filter(pk=jobs["old"].definition_id).exists()
    assert type(old.definition).objects.filter(pk=jobs["recent"].definition_id).exists()
