"""Staged rows' partitions (pipeline.partitions, migration bulkapi 0018): beat's upkeep makes them
ahead of the id sequence and seals the ones it has passed; retention drops a sealed partition
whole when none of its rows is wanted (consumed, or past every retention and claimed by no running
sync) and keeps every other one; rows in an upkeep's partition and in the DEFAULT partition sync
alike. The partitions' DDL runs in the test's transaction and goes with it."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from pipeline.models import StagedRow, StagedUpload
from pipeline.partitions import CLOCK_SLACK_SECONDS, DEFAULT, partitions, staged_partitions_upkeep
from pipeline.services.imports import imports_purge_expired
from tests.factories import ImportDefinitionFactory, SyncFactory
from tests.pipeline.helpers import drive, stage, staged_sync

pytestmark = pytest.mark.django_db

WIDTH = 10


def rows(prefix, n):
    return [
        {"OpportunityID": f"{prefix}-{i}", "OpportunityName": "n", "Amount": "1", "Stage": "Proposal"} for i in range(n)
    ]


def jump_sequence() -> int:
    """Move the id sequence past every partition (as a burst of uploads would); returns the last id."""
    with connection.cursor() as cur:
        cur.execute("SELECT max(hi) FROM bulkapi_stagedpartition")
        top = cur.fetchone()[0]
        cur.execute("SELECT setval('bulkapi_stagedrow_id_seq', %s)", [top + 1000])
        return cur.fetchone()[0]


def homes(definition) -> dict[str, int]:
    """Rows of the definition by the partition they are stored in."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT tableoid::regclass::text, count(*) FROM bulkapi_stagedrow WHERE definition_id = %s GROUP BY 1",
            [definition.pk],
        )
        return dict(cur.fetchall())


def partition_of(definition) -> str:
    (name,) = homes(definition)
    return name


def age(definition, hours: float) -> None:
    StagedUpload.objects.filter(definition=definition).update(created_at=timezone.now() - timedelta(hours=hours))


@pytest.fixture
def small(settings):
    """Partitions of WIDTH ids, one ahead, starting just past the (jumped) sequence."""
    settings.BULK_STAGING_PARTITION_ROWS, settings.BULK_STAGING_PARTITIONS_AHEAD = WIDTH, 1
    last = jump_sequence()
    assert staged_partitions_upkeep()["created"] == 1
    imports_purge_expired()  # the partitions the sequence jumped over, empty, go now
    assert partitions()[-1].lo == last + 1
    return last


def test_retention_drops_sealed_partitions_nobody_wants_and_keeps_the_others(small):
    expired = ImportDefinitionFactory(data_retention_seconds=3600)
    stage(expired, rows("E", WIDTH))  # fills the first small partition exactly
    staged_partitions_upkeep()  # seals it, makes the next
    longer = ImportDefinitionFactory(site=expired.site, data_retention_seconds=3 * 3600)
    stage(longer, rows("L", WIDTH))
    staged_partitions_upkeep()
    claimed = ImportDefinitionFactory(site=expired.site, data_retention_seconds=3600)
    stage(claimed, rows("C", WIDTH))
    staged_partitions_upkeep()
    consumed = ImportDefinitionFactory(site=expired.site)
    sync = staged_sync(consumed, rows("S", WIDTH))
    drive(sync.pk)
    sync.refresh_from_db()
    assert sync.status == "success" and sync.created_count == WIDTH  # rows of an upkeep's partition sync
    staged_partitions_upkeep()
    fresh = ImportDefinitionFactory(site=expired.site, data_retention_seconds=3600)
    stage(fresh, rows("F", 5))  # half of a partition the sequence has not passed
    staged_partitions_upkeep()
    names = {d.name: partition_of(d) for d in (expired, longer, claimed, fresh)}
    emptied = next(p.relname for p in partitions() if p.lo == small + 1 + 3 * WIDTH)
    by_name = {p.relname: p for p in partitions()}
    assert [by_name[names[d.name]].sealed_at is not None for d in (expired, longer, claimed, fresh)] == [
        True, True, True, False,
    ]  # fmt: skip
    # every sealed partition was sealed 2 h (plus the clock slack) ago; every upload is 2 h old
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE bulkapi_stagedpartition SET sealed_at = now() - make_interval(secs => %s)"
            " WHERE sealed_at IS NOT NULL",
            [2 * 3600 + CLOCK_SLACK_SECONDS],
        )
    for definition in (expired, longer, claimed, fresh):
        age(definition, 2)
    running = SyncFactory(site=claimed.site, definition=claimed, status="active")
    StagedUpload.objects.filter(definition=claimed).update(sync=running)  # a running sync's rows

    purged = imports_purge_expired()

    left = {p.relname for p in partitions()}
    assert purged["staged_partitions"] == 2
    assert names[expired.name] not in left and emptied not in left  # past retention; consumed
    assert {names[longer.name], names[claimed.name], names[fresh.name]} <= left
    assert StagedRow.objects.filter(definition=expired).count() == 0
    assert StagedRow.objects.filter(definition=longer).count() == WIDTH  # 3 h retention: not yet
    assert StagedRow.objects.filter(definition=claimed).count() == WIDTH  # its sync is active
    # unsealed: kept whole, though its one upload is past retention (the row-wise purge took it)
    assert names[fresh.name] in left and purged["staged_rows"] == 5
    assert imports_purge_expired()["staged_partitions"] == 0


def test_rows_in_the_default_partition_and_in_the_one_upkeep_makes_above_them_sync(small):
    definition = ImportDefinitionFactory()
    jump_sequence()  # past every partition: upkeep did not run in time
    stage(definition, rows("D", 7))
    assert homes(definition) == {DEFAULT: 7}
    staged_partitions_upkeep()  # the next partition starts above what the default partition holds
    newest = partitions()[-1]
    with connection.cursor() as cur:
        cur.execute(f"SELECT max(id) FROM {DEFAULT}")
        assert newest.lo > cur.fetchone()[0]
    stage(definition, rows("P", 4))
    assert homes(definition) == {DEFAULT: 7, newest.relname: 4}

    sync = staged_sync(definition)
    drive(sync.pk)

    sync.refresh_from_db()
    assert (sync.status, sync.total_rows, sync.created_count, sync.rejected) == ("success", 11, 11, 0)
    assert homes(definition) == {}  # consumed from both


def test_upkeep_is_idempotent_and_seals_only_what_the_sequence_passed(small):
    before = partitions()
    assert staged_partitions_upkeep() == {"created": 0, "sealed": 0}
    assert partitions() == before
    stage(ImportDefinitionFactory(), rows("X", WIDTH - 1))  # one id short of the bound
    assert staged_partitions_upkeep() == {"created": 1, "sealed": 0}  # less than WIDTH ids of room left
    stage(ImportDefinitionFactory(), rows("Y", 1))
    assert staged_partitions_upkeep() == {"created": 0, "sealed": 1}
