"""Every staged row of a sync is stored or rejected exactly once, whatever ends the sync: an error no
retry can fix, a cancel, a poison row, a chunk overtaken by the end of its sync, duplicate or lost
chunk messages. Counters add up: processed = created + updated + rejected = total rows."""

import threading

import psycopg
import pytest
from django.db import connection, connections
from django.db.utils import OperationalError

from entities.opportunities.models import Opportunity
from kernel.exceptions import Conflict
from pipeline.models import Reject, Sync, SyncLane, SyncLog
from pipeline.services import (
    rows_before,
    sync_cancel,
    sync_fail,
    sync_run_chunk,
    sync_start,
    syncs_requeue,
)
from pipeline.tasks import SyncTask
from tests.concurrency import Racer, conninfo
from tests.factories import ImportDefinitionFactory, UserFactory
from tests.pipeline.helpers import drive, run_sync, stage, staged_sync

pytestmark = pytest.mark.django_db


def row(i, **kw):
    base = {"OpportunityID": f"N{i}", "OpportunityName": f"Deal {i}", "Amount": str(i), "Stage": "Proposal"}
    base.update(kw)
    return base


def rejects(sync) -> dict[int, str]:
    return dict(Reject.objects.filter(sync=sync).values_list("record_index", "status_code"))


def adds_up(sync) -> bool:
    return (
        sync.processed == sync.created_count + sync.updated_count + sync.rejected == sync.total_rows
        and sync.rejected == Reject.objects.filter(sync=sync).count()
    )


def laned(settings, chunk_rows=5, lanes=2):
    settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_LANES, settings.BULK_SYNC_FIRST_RANGE_ROWS = chunk_rows, lanes, 3


def test_a_sync_that_fails_returns_every_row_it_did_not_reach_as_a_reject(site, settings):
    laned(settings)
    definition = ImportDefinitionFactory(site=site)
    sync = staged_sync(definition, [row(i, Amount="bad" if i == 2 else str(i)) for i in range(1, 41)])
    drive(sync.pk, chunks=4)  # some ranges of each lane done, the rest not
    sync.refresh_from_db()
    done = sync.processed
    assert 0 < done < 40

    sync_fail(sync_id=sync.pk, reason="RuntimeError: a bug")

    sync.refresh_from_db()
    codes = rejects(sync)
    stored = set(Opportunity.objects.filter(site=site).values_list("external_id", flat=True))
    assert sync.status == "error" and adds_up(sync) and sync.processed == 40
    # every record index exactly once: stored, rejected as malformed, or returned as not processed
    assert sorted([*codes, *(int(e[1:]) for e in stored)]) == list(range(1, 41))
    assert codes[2] == "ELQ-00032"
    assert sum(1 for c in codes.values() if c == "SRV-00100") == 40 - done
    not_processed = Reject.objects.filter(sync=sync, status_code="SRV-00100").first()
    assert not_processed.message == "Not processed: the sync ended in error."
    assert not_processed.field_values == row(not_processed.record_index)  # the row as uploaded
    logs = {log.status_code: (log.count, log.severity) for log in SyncLog.objects.filter(sync=sync)}
    assert logs["SRV-00100"] == (40 - done, "warning") and logs["ELQ-00060"][0] == sync.rejected
    assert logs["SRV-00103"] == (0, "error") and logs["ELQ-00001"][0] == 40


def test_cancel_stops_a_sync_and_accounts_for_its_rows_and_retry_runs_exactly_those(site, settings, api):
    laned(settings)
    definition = ImportDefinitionFactory(site=site)
    sync = staged_sync(definition, [row(i) for i in range(1, 31)])
    drive(sync.pk, chunks=3)

    response = api.post(f"/api/bulk/2.0/syncs/{sync.pk}/cancel")

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "error"
    sync.refresh_from_db()
    assert sync.cancelled_by == api.user.username and adds_up(sync)
    cancelled = {i for i, c in rejects(sync).items() if c == "SRV-00101"}
    assert cancelled and len(cancelled) == 30 - sync.created_count
    log = SyncLog.objects.get(sync=sync, status_code="SRV-00102")
    assert log.message == f"Sync cancelled by {api.user.username}." and log.severity == "error"
    assert api.post(f"/api/bulk/2.0/syncs/{sync.pk}/cancel").status_code == 409
    # the lanes do nothing more after the end
    assert drive(sync.pk) == 0 and Opportunity.objects.filter(site=site).count() == sync.created_count

    response = api.post(f"/api/bulk/2.0/syncs/{sync.pk}/retry")

    assert response.status_code == 201, response.json()
    retry = Sync.objects.get(pk=int(response.json()["uri"].rsplit("/", 1)[1]))
    assert retry.retry_of_id == sync.pk and retry.total_rows == len(cancelled)
    drive(retry.pk)
    retry.refresh_from_db()
    assert retry.status == "success" and retry.created_count == len(cancelled) and adds_up(retry)
    assert Opportunity.objects.filter(site=site).count() == 30
    again = api.post(f"/api/bulk/2.0/syncs/{sync.pk}/retry")
    assert again.status_code == 409 and "Already retried" in again.json()["failures"][0]["constraint"]
    assert api.post(f"/api/bulk/2.0/syncs/{retry.pk}/retry").status_code == 409  # it did not end in error


def test_a_pending_sync_cancelled_rejects_every_row_and_another_sites_sync_is_404(site, api, other_api):
    definition = ImportDefinitionFactory(site=site)
    sync = staged_sync(definition, [row(i) for i in range(1, 6)])
    assert other_api.post(f"/api/bulk/2.0/syncs/{sync.pk}/cancel").status_code == 404
    assert other_api.post(f"/api/bulk/2.0/syncs/{sync.pk}/retry").status_code == 404

    sync_cancel(sync_id=sync.pk, by="ops")

    sync.refresh_from_db()
    assert sync.status == "error" and set(rejects(sync).values()) == {"SRV-00101"} and adds_up(sync)
    with pytest.raises(Conflict):
        sync_cancel(sync_id=sync.pk, by="ops")


def test_a_row_the_chunk_cannot_write_is_rejected_alone_and_the_others_go_on(site, settings):
    """The net under the judging: a row the database refuses (here a CHECK the test adds) is found
    by halving its chunk and rejected; every other row of the chunk is stored."""
    settings.BULK_SYNC_CHUNK_ROWS = 50
    with connection.cursor() as cur:
        cur.execute("ALTER TABLE opportunities_opportunity ADD CONSTRAINT poison CHECK (name <> 'POISON')")
    definition = ImportDefinitionFactory(site=site)
    rows = [row(i) for i in range(1, 21)]
    rows[6]["OpportunityName"] = rows[13]["OpportunityName"] = "POISON"

    sync = run_sync(definition, rows)

    assert sync.status == "warning" and adds_up(sync)
    assert rejects(sync) == {7: "ELQ-00032", 14: "ELQ-00032"}
    assert Opportunity.objects.filter(site=site).count() == 18
    assert Reject.objects.get(sync=sync, record_index=7).field_values["OpportunityName"] == "POISON"


def test_a_duplicate_message_for_a_lane_does_nothing(site, settings):
    laned(settings)
    definition = ImportDefinitionFactory(site=site)
    sync = staged_sync(definition, [row(i) for i in range(1, 21)])
    first = sync_run_chunk(sync_id=sync.pk, lane=0, at_range=0)
    assert first.has_more and first.next_range == 1
    sync.refresh_from_db()
    done = sync.processed
    assert done > 0

    again = sync_run_chunk(sync_id=sync.pk, lane=0, at_range=0)  # a redelivered or requeued copy

    assert not again.has_more
    sync.refresh_from_db()
    assert sync.processed == done and SyncLane.objects.get(sync=sync, lane=0).next_range == 1


def queued_runs() -> list[tuple]:
    """The `syncs.run` messages waiting in the broker's `bulk` queue (taken off it), as their args."""
    import base64
    import json

    from django.conf import settings as django_settings
    from redis import Redis

    client = Redis.from_url(django_settings.CELERY_BROKER_URL)
    out = []
    while raw := client.rpop("bulk"):
        message = json.loads(raw)
        if message["headers"]["task"] == "syncs.run":
            out.append(tuple(json.loads(base64.b64decode(message["body"]))[0]))
    return out


def test_beat_requeues_only_lanes_nobody_advanced(site, settings):
    laned(settings)
    settings.BULK_SYNC_STALL_SECONDS = 60
    definition = ImportDefinitionFactory(site=site)
    sync = staged_sync(definition, [row(i) for i in range(1, 21)])
    drive(sync.pk, chunks=2)
    SyncLane.objects.filter(sync=sync, lane=1).update(heartbeat_at="2000-01-01T00:00:00Z")
    queued_runs()

    assert syncs_requeue() == 1
    assert queued_runs() == [(sync.pk, 1, SyncLane.objects.get(sync=sync, lane=1).next_range)]
    assert syncs_requeue(sync_id=sync.pk) == 1  # an operator's requeue: every unfinished lane
    assert {run[1] for run in queued_runs()} == {0, 1}
    drive(sync.pk)
    sync.refresh_from_db()
    assert sync.status == "success" and adds_up(sync)
    assert syncs_requeue(sync_id=sync.pk) == 0 and queued_runs() == []


def test_infrastructure_failures_pause_a_sync_and_bugs_end_it(site):
    definition = ImportDefinitionFactory(site=site)
    sync = staged_sync(definition, [row(1)])
    task = SyncTask()
    for exc in (OperationalError("server closed the connection"), ConnectionRefusedError(111, "refused")):
        task.on_failure(exc, "t", (sync.pk, 0, 0), {}, None)
        sync.refresh_from_db()
        assert sync.status == "pending"
    task.on_failure(KeyError("bug"), "t", (sync.pk, 0, 0), {}, None)
    sync.refresh_from_db()
    assert sync.status == "error" and rejects(sync) == {1: "SRV-00100"} and adds_up(sync)


@pytest.mark.django_db(transaction=True)
def test_a_chunk_overtaken_by_a_cancel_rolls_back_whole(site, settings, monkeypatch):
    """A lane's chunk has written its rows when the sync is cancelled: the chunk finds the sync
    ended when it adds its counts (under the lock the cancel holds) and rolls back, so nothing is
    written to a sync after its end, and its rows are among the cancelled ones."""
    import entities.opportunities.sql

    definition = ImportDefinitionFactory(site=site)
    sync = staged_sync(definition, [row(i) for i in range(1, 11)])
    written, release = threading.Event(), threading.Event()
    real = entities.opportunities.sql.process_chunk

    def slow(cursor, **kw):
        result = real(cursor, **kw)
        written.set()
        release.wait(30)
        return result

    monkeypatch.setattr(entities.opportunities.sql, "process_chunk", slow)
    outcome = {}

    def lane():
        try:
            outcome["result"] = sync_run_chunk(sync_id=sync.pk, lane=0, at_range=0)
        finally:
            connections.close_all()

    worker = threading.Thread(target=lane)
    worker.start()
    assert written.wait(30)
    sync_cancel(sync_id=sync.pk, by="ops")
    release.set()
    worker.join(30)

    assert outcome["result"].has_more is False
    sync.refresh_from_db()
    assert Opportunity.objects.filter(site=site).count() == 0
    assert rejects(sync) == {i: "SRV-00101" for i in range(1, 11)} and adds_up(sync)


@pytest.mark.django_db(transaction=True)
def test_overlapping_writers_count_what_happened_and_the_last_committer_wins_whole(site, currencies):
    """Sync A judges X as new; another writer creates X (with its own created date) before A's
    INSERT: A's row updates X with exactly what A's update path writes (its created date too), and
    counts as updated, not created."""
    fields = {
        "OpportunityID": "{{Opportunity.Id}}",
        "OpportunityName": "{{Opportunity.Field(Name)}}",
        "Amount": "{{Opportunity.Field(Amount)}}",
        "Stage": "{{Opportunity.Field(Stage)}}",
        "Created": "{{Opportunity.CreatedAt}}",
    }
    definition = ImportDefinitionFactory(site=site, fields=[[k, v] for k, v in fields.items()])
    stage(definition, [row(1, Created="2020-02-02"), row(2, Created="2020-02-02"), row(3)])
    stage_id = site.stages.get(name="Proposal").pk
    sync = sync_start(definition=definition, user=UserFactory(site=site))
    other = psycopg.connect(conninfo())
    other.execute(
        "INSERT INTO opportunities_opportunity (site_id, external_id, name, amount, stage_id, created_at)"
        " VALUES (%s, 'N1', 'other', 5, %s, '2001-01-01'), (%s, 'N3', 'other', 5, %s, '2001-01-01')",
        [site.pk, stage_id, site.pk, stage_id],
    )  # uncommitted: invisible to the sync's judging, in its INSERT's way
    try:
        chunk = Racer(lambda: sync_run_chunk(sync_id=sync.pk))
        chunk.wait_until_blocked()  # its INSERT waits for the other writer's uncommitted N1
        other.commit()
    finally:
        other.close()
    chunk.join()

    sync.refresh_from_db()
    assert (sync.created_count, sync.updated_count, sync.processed) == (1, 2, 3) and adds_up(sync)
    got = {o.external_id: (o.name, o.amount, str(o.created_at.date())) for o in Opportunity.objects.filter(site=site)}
    assert got["N1"] == ("Deal 1", 1, "2020-02-02")  # wholly A's, created date included
    assert got["N3"][:2] == ("Deal 3", 3) and got["N3"][2] == "2001-01-01"  # A gives no date: kept, as on update


def test_a_stale_message_carries_on_a_lane_that_went_quiet(site, settings):
    """A worker killed right after committing a chunk never sent the lane's next message; its
    redelivered message (for the range just done) carries the lane on once it has been quiet."""
    laned(settings, lanes=1)
    settings.BULK_SYNC_STALL_SECONDS = 60
    definition = ImportDefinitionFactory(site=site)
    sync = staged_sync(definition, [row(i) for i in range(1, 21)])
    assert sync_run_chunk(sync_id=sync.pk, lane=0, at_range=0).next_range == 1

    fresh = sync_run_chunk(sync_id=sync.pk, lane=0, at_range=0)  # the lane just moved: a duplicate
    SyncLane.objects.filter(sync=sync).update(heartbeat_at="2000-01-01T00:00:00Z")
    quiet = sync_run_chunk(sync_id=sync.pk, lane=0, at_range=0)  # quiet for long: carried on

    assert not fresh.has_more
    assert quiet.has_more and quiet.next_range == 1


@pytest.mark.django_db(transaction=True)
def test_a_matched_record_deleted_while_the_chunk_runs_is_judged_again(site, monkeypatch):
    """The chunk judged N1 an update of an existing record; another writer deletes that record
    before the chunk's UPDATE: the row is neither lost nor counted as updated, the chunk runs again
    and creates N1 anew."""
    import entities.opportunities.sql

    definition = ImportDefinitionFactory(site=site)
    run_sync(definition, [row(1), row(2)])
    first = Opportunity.objects.get(site=site, external_id="N1")
    stage(definition, [row(1, OpportunityName="Again"), row(2, OpportunityName="Again"), row(3)])
    real = entities.opportunities.sql.update_matched
    deleted = []

    def delete_first(cursor, update, params, **kw):
        if not deleted:  # after the judging, before the UPDATE: another connection, committed
            with psycopg.connect(conninfo(), autocommit=True) as other:
                other.execute("DELETE FROM opportunities_opportunity WHERE id = %s", [first.pk])
            deleted.append(first.pk)
        return real(cursor, update, params, **kw)

    monkeypatch.setattr(entities.opportunities.sql, "update_matched", delete_first)
    sync = sync_start(definition=definition, user=UserFactory(site=site))
    drive(sync.pk)

    sync.refresh_from_db()
    assert deleted and sync.status == "success" and adds_up(sync)
    assert (sync.created_count, sync.updated_count) == (2, 1)  # N1 (anew) and N3 created, N2 updated
    stored = dict(Opportunity.objects.filter(site=site).values_list("external_id", "name"))
    assert stored == {"N1": "Again", "N2": "Again", "N3": "Deal 3"}
    assert not Opportunity.objects.filter(pk=first.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_the_retention_purge_never_takes_rows_a_sync_is_claiming(site):
    """A sync's snapshot (`sync_start`) claims an expired upload (definition FOR UPDATE, upload's
    sync set, not committed yet) while the purge runs: the purge skips that definition instead of
    deleting the rows from under the sync it cannot see yet, and does not wait for it."""
    from datetime import timedelta

    from django.utils import timezone

    from pipeline.models import StagedRow, StagedUpload
    from pipeline.services.imports import imports_purge_expired

    definition = ImportDefinitionFactory(site=site, data_retention_seconds=3600)
    stage(definition, [row(i) for i in range(1, 4)])
    StagedUpload.objects.filter(definition=definition).update(created_at=timezone.now() - timedelta(hours=2))
    user = UserFactory(site=site)
    claimed, release = threading.Event(), threading.Event()

    def hold(sync) -> None:  # sync_start's before_commit: the snapshot is made, not committed
        claimed.set()
        assert release.wait(30)

    snapshot = Racer(lambda: sync_start(definition=definition, user=user, before_commit=hold))
    assert claimed.wait(30)
    purge = Racer(imports_purge_expired)
    try:
        purged_meanwhile = purge.done(timeout=10)
    finally:
        release.set()
    sync = snapshot.join()
    assert purged_meanwhile, "the purge waited for the snapshot"
    assert purge.join()["staged_rows"] == 0
    assert StagedRow.objects.filter(definition_id=definition.pk).count() == 3
    assert StagedUpload.objects.get(definition=definition).sync_id == sync.pk


def test_the_tenant_sees_a_reference_and_the_server_log_the_failure(site, caplog):
    definition = ImportDefinitionFactory(site=site)
    sync = staged_sync(definition, [row(1)])

    SyncTask().on_failure(KeyError("internal detail: relation secret_table"), "t", (sync.pk, 0, 0), {}, None)

    sync.refresh_from_db()
    failure = SyncLog.objects.get(sync=sync, status_code="SRV-00103")
    reference = failure.message.split("reference ")[1].split(")")[0]
    assert len(reference) == 12 and "secret_table" not in failure.message and "KeyError" not in failure.message
    assert sync.error_message == failure.message
    logged = [r for r in caplog.records if reference in r.getMessage()]
    assert logged and "secret_table" in logged[0].getMessage()


def test_a_sync_ends_in_error_even_when_its_rows_cannot_be_listed_by_lane(site, settings):
    laned(settings)
    definition = ImportDefinitionFactory(site=site)
    sync = staged_sync(definition, [row(i) for i in range(1, 41)])
    drive(sync.pk, chunks=4)
    sync.refresh_from_db()
    done, lanes = sync.processed, dict(SyncLane.objects.filter(sync=sync).values_list("lane", "next_range"))
    # given: the first statement that lists rows not processed fails (once: a sequence is not
    # rolled back with the statement)
    with connection.cursor() as cur:
        cur.execute(
            "CREATE SEQUENCE fail_once; CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN IF nextval('fail_once') = 1 THEN RAISE EXCEPTION 'listing fails'; END IF; RETURN NULL; END $$;"
            " CREATE TRIGGER fail_once BEFORE INSERT ON syncs_reject FOR EACH STATEMENT EXECUTE FUNCTION fail_once()"
        )

    sync_fail(sync_id=sync.pk, reason="a bug")

    sync.refresh_from_db()
    assert sync.status == "error" and sync.processed == 40 == sync.created_count + sync.updated_count + sync.rejected
    logs = {log.status_code: log.count for log in SyncLog.objects.filter(sync=sync)}
    listed = Reject.objects.filter(sync=sync, status_code="SRV-00100").count()
    started = rows_before(sync, max(lanes.values()))  # rows of the ranges some lane has started
    assert 0 < listed == 40 - started and logs.get("SRV-00104", 0) == 40 - done - listed
    assert sync.rejected == listed + logs.get("SRV-00104", 0) and logs["ELQ-00001"] == 40


def test_a_range_that_keeps_running_past_its_time_limit_ends_the_sync(site, settings):
    settings.BULK_SYNC_CHUNK_OVERRUNS = 3
    definition = ImportDefinitionFactory(site=site)
    sync = staged_sync(definition, [row(i) for i in range(1, 11)])
    task = SyncTask()
    timeout = psycopg.errors.QueryCanceled("canceling statement due to statement timeout")

    task.on_retry(timeout, "t", (sync.pk, 0, 0), {}, None)
    task.on_retry(OperationalError("server closed the connection"), "t", (sync.pk, 0, 0), {}, None)  # not counted
    task.on_retry(timeout, "t", (sync.pk, 0, 0), {}, None)
    sync.refresh_from_db()
    assert sync.status == "pending" and SyncLane.objects.get(sync=sync, lane=0).overruns == 2

    task.on_retry(timeout, "t", (sync.pk, 0, 0), {}, None)

    sync.refresh_from_db()
    assert sync.status == "error" and adds_up(sync) and set(rejects(sync).values()) == {"SRV-00100"}
    assert "time limit 3 times" in sync.error_message


def test_a_range_that_commits_starts_its_overrun_count_again(site, settings):
    laned(settings)
    definition = ImportDefinitionFactory(site=site)
    sync = staged_sync(definition, [row(i) for i in range(1, 41)])
    SyncTask().on_retry(psycopg.errors.QueryCanceled("timeout"), "t", (sync.pk, 0, 0), {}, None)
    assert SyncLane.objects.get(sync=sync, lane=0).overruns == 1

    sync_run_chunk(sync_id=sync.pk, lane=0)

    assert SyncLane.objects.get(sync=sync, lane=0).overruns == 0


@pytest.mark.django_db(transaction=True)
def test_a_cancel_and_a_chunk_writing_its_counters_never_deadlock(site, settings):
    """A chunk's rejects take FOR KEY SHARE on the sync's row (their foreign key check), then its
    counters want the row lock the cancel holds; the cancel's own write of the row must not want
    more than FOR NO KEY UPDATE, or each waits for the other (a cancel answered 500 under load).
    Both are the production functions, each on its own connection."""
    settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_LANES = 5, 1
    definition = ImportDefinitionFactory(site=site)
    sync = staged_sync(definition, [row(i, Amount="bad" if i % 5 == 0 else str(i)) for i in range(1, 21)])
    drive(sync.pk, chunks=1)  # active, range 0 done
    gate = 0x7465737467617465  # an advisory lock the test holds: the cancel waits for it mid-way
    with connection.cursor() as cur:
        cur.execute(
            "CREATE FUNCTION gated_reject() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            f" PERFORM pg_advisory_xact_lock({gate}); RETURN NEW; END $$;"
            " CREATE TRIGGER gated_reject BEFORE INSERT ON syncs_reject FOR EACH ROW"
            " WHEN (NEW.status_code = 'SRV-00101') EXECUTE FUNCTION gated_reject()"
        )
    holder = psycopg.connect(conninfo(), autocommit=True)
    try:
        holder.execute("SELECT pg_advisory_lock(%s)", [gate])
        # given: the cancel holds the sync's row and waits while listing its cancelled rows
        cancel = Racer(lambda: sync_cancel(sync_id=sync.pk, by="test"))
        cancel.wait_until_blocked()
        # and: the next chunk has written a reject (its key check locks the sync's row FOR KEY
        # SHARE) and waits to add its counts
        chunk = Racer(lambda: sync_run_chunk(sync_id=sync.pk, lane=0))
        chunk.wait_until_blocked()
    finally:
        holder.execute("SELECT pg_advisory_unlock(%s)", [gate])  # when: the cancel goes on
        holder.close()
    try:
        cancelled, result = cancel.join(), chunk.join()
    finally:
        with connection.cursor() as cur:
            cur.execute("DROP TRIGGER IF EXISTS gated_reject ON syncs_reject; DROP FUNCTION IF EXISTS gated_reject()")
    # then: the cancel went through, and the chunk found the sync ended and rolled back whole
    assert cancelled.status == "error" and result.has_more is False
    sync.refresh_from_db()
    assert sync.status == "error" and adds_up(sync)
    assert rejects(sync) == {5: "ELQ-00032", **{i: "SRV-00101" for i in range(6, 21)}}
