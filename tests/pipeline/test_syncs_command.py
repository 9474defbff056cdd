"""`manage.py syncs list|show|cancel|retry|requeue|purge`, run against real syncs."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from kernel.broker import broker_client, queue_lengths
from ops.models import CallbackFailure
from pipeline.models import Reject, StagedRow, StagedUpload, Sync, SyncLane
from tests.factories import ImportDefinitionFactory, SyncFactory, UserFactory
from tests.pipeline.helpers import drive, stage, staged_sync

pytestmark = pytest.mark.django_db


def syncs(*args: str) -> str:
    out = StringIO()
    call_command("syncs", *args, stdout=out)
    return out.getvalue()


def rows(n: int, bad: tuple[int, ...] = ()) -> list[dict]:
    return [
        {"OpportunityID": f"C{i}", "OpportunityName": f"Deal {i}", "Amount": "bad" if i in bad else str(i),
         "Stage": "Proposal"}
        for i in range(1, n + 1)
    ]  # fmt: skip


@pytest.fixture
def half_done(site, settings):
    """A sync of 40 rows in 2 lanes of 5-row ranges, a few chunks of it committed."""
    settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_LANES, settings.BULK_SYNC_FIRST_RANGE_ROWS = 5, 2, 3
    definition = ImportDefinitionFactory(site=site)
    sync = staged_sync(definition, rows(40, bad=(2,)), user=UserFactory(site=site, username="ops.user"))
    drive(sync.pk, chunks=3)
    sync.refresh_from_db()
    assert sync.status == "active" and 0 < sync.processed < 40
    return sync


def test_list_shows_progress_rate_eta_and_lanes(half_done, site):
    # given: the sync started 10 s ago
    Sync.objects.filter(pk=half_done.pk).update(sync_started_at=timezone.now() - timedelta(seconds=10))
    # when
    out = syncs("list")
    # then
    header, line = out.splitlines()[:2]
    assert header.split() == ["ID", "SITE", "STATUS", "DONE/TOTAL", "%", "ROWS/S", "ETA", "LANES", "STARTED", "IDLE"]
    done = half_done.processed
    ranges = len(half_done.range_ends)
    positions = dict(SyncLane.objects.filter(sync=half_done).values_list("lane", "next_range"))
    assert line.split()[:5] == [str(half_done.pk), site.name, "active", f"{done}/40", f"{100 * done / 40:.1f}"]
    assert f"0:{positions[0]}/{ranges} 1:{positions[1]}/{ranges}" in line
    assert f"  {round(done / 10)}  " in line  # rows/s over its 10 s


def test_list_as_json_and_filters(half_done, site):
    other = SyncFactory(site=site, status="success", total_rows=3, processed=3, created_count=3)
    listed = json.loads(syncs("list", "--json"))
    assert [s["id"] for s in listed] == [other.pk, half_done.pk]
    running = json.loads(syncs("list", "--running", "--json"))
    assert [s["id"] for s in running] == [half_done.pk]
    assert running[0]["processed"] == half_done.processed and running[0]["total"] == 40
    assert [lane["lane"] for lane in running[0]["lanes"]] == [0, 1]
    assert json.loads(syncs("list", "--status", "success", "--json"))[0]["id"] == other.pk
    assert syncs("list", "--site", "no such site") == "No syncs.\n"


def test_show_gives_lanes_reject_reasons_logs_and_callback_failures(half_done):
    Sync.objects.filter(pk=half_done.pk).update(callback_url="https://example.com/hook")
    CallbackFailure.objects.create(sync_id=half_done.pk, attempt=1, error="HTTPError('503 Server Error')")
    out = syncs("show", str(half_done.pk))
    assert out.startswith(f"sync {half_done.pk} of site {half_done.site.name}: active\n")
    assert f"progress    {half_done.processed} of 40 rows" in out
    assert "    lane 0: next range" in out and "    lane 1: " in out
    assert "https://example.com/hook: 1 failed attempts, failing" in out
    assert "last: HTTPError('503 Server Error')" in out
    bad = Reject.objects.get(sync=half_done)
    assert f"         1  {bad.status_code}  {bad.message}" in out
    assert "ELQ-00137  Ready for data import processing." in out
    shown = json.loads(syncs("show", str(half_done.pk), "--json"))
    assert shown["rejects"] == [{"status_code": bad.status_code, "message": bad.message, "rows": 1}]
    assert shown["callbackFailures"][0]["attempt"] == 1


def test_cancel_then_retry(half_done):
    # when
    out = syncs("cancel", str(half_done.pk), "--by", "ops on call")
    # then
    cancelled = Sync.objects.get(pk=half_done.pk)
    assert out.startswith(f"sync {half_done.pk} cancelled by ops on call: error, 40 of 40 rows processed")
    assert cancelled.status == "error" and cancelled.cancelled_by == "ops on call"
    not_reached = Reject.objects.filter(sync=cancelled, status_code="SRV-00101").count()
    assert not_reached == 40 - half_done.processed
    with pytest.raises(CommandError, match="The sync has already ended"):
        syncs("cancel", str(half_done.pk))

    # when: retried, by the sync's creator unless told otherwise
    out = syncs("retry", str(half_done.pk))
    # then
    retry = Sync.objects.get(retry_of=cancelled)
    assert out == f"sync {half_done.pk} retried as sync {retry.pk}: {not_reached} rows, pending\n"
    assert retry.created_by == "ops.user" and retry.total_rows == not_reached
    with pytest.raises(CommandError, match="Already retried"):
        syncs("retry", str(half_done.pk))


def test_retry_needs_a_user_of_the_site(half_done):
    syncs("cancel", str(half_done.pk))
    with pytest.raises(CommandError, match="has no user 'nobody': name one with --user"):
        syncs("retry", str(half_done.pk), "--user", "nobody")


def test_requeue_sends_the_lanes_messages_again():
    """A sync whose messages were lost (a broker restart) goes on once requeued."""
    client = broker_client()
    client.delete(*settings.TASK_QUEUES)
    try:
        sync = SyncFactory(range_ends=[10, 20], lanes=1)
        out = syncs("requeue", str(sync.pk))
        assert queue_lengths(client)["bulk"] == 1
    finally:
        client.delete(*settings.TASK_QUEUES)
    assert out.startswith(f"sync {sync.pk}: 1 sync(s) re-enqueued")


def test_requeue_refuses_an_ended_sync(site):
    ended = SyncFactory(site=site, status="success")
    with pytest.raises(CommandError, match=r"has ended \(success\): nothing to requeue"):
        syncs("requeue", str(ended.pk))


def test_purge_deletes_expired_staging_now(site):
    definition = ImportDefinitionFactory(site=site, data_retention_seconds=3600)
    stage(definition, rows(3))
    StagedUpload.objects.filter(definition=definition).update(created_at=timezone.now() - timedelta(hours=2))
    out = syncs("purge")
    # (and the staging partitions that earlier tests' ids have sealed, empty)
    assert out.startswith("purged 3 expired staged rows and 0 expired definitions (dropped ")
    assert not StagedRow.objects.filter(definition=definition).exists()


@pytest.mark.parametrize("action", ["show", "cancel", "retry", "requeue"])
def test_an_unknown_sync_is_named(action):
    with pytest.raises(CommandError, match="There is no sync 999999999"):
        syncs(action, "999999999")
