"""A statement that cannot run ends its sync in `error` with every row accounted for, through a
real worker, never a sync that stays active while beat requeues it (issue 22, point 1).

The faults are made in the database itself (triggers on the opportunity table), so the worker runs
its real code against a statement that fails, or one that never finishes."""

from __future__ import annotations

import pytest
from django.db import connection

from entities.opportunities.models import Opportunity
from pipeline.models import Reject, Sync
from tests.conftest import WorkerProcess, wait_for
from tests.factories import ImportDefinitionFactory
from tests.pipeline.helpers import staged_sync

pytestmark = pytest.mark.django_db(transaction=True)


def trigger(body: str) -> None:
    with connection.cursor() as cur:
        cur.execute(
            "CREATE OR REPLACE FUNCTION test_fault() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            + body
            + " RETURN NULL; END $$; CREATE TRIGGER test_fault BEFORE INSERT ON opportunities_opportunity"
            " FOR EACH STATEMENT EXECUTE FUNCTION test_fault()"
        )


@pytest.fixture
def fault():
    yield trigger
    with connection.cursor() as cur:
        cur.execute(
            "DROP TRIGGER IF EXISTS test_fault ON opportunities_opportunity; DROP FUNCTION IF EXISTS test_fault()"
        )


def start(site, rows: int) -> Sync:
    return staged_sync(ImportDefinitionFactory(site=site), [
        {"OpportunityID": f"F{i}", "OpportunityName": "x", "Amount": "1", "Stage": "Proposal"} for i in range(rows)
    ])  # fmt: skip


def ended(sync_id: int, timeout: float) -> Sync:
    return wait_for(
        lambda: Sync.objects.filter(pk=sync_id, status__in=["success", "warning", "error"]).first(), timeout
    )


def accounted(sync: Sync) -> bool:
    stored = Opportunity.objects.filter(site_id=sync.site_id).count()
    return (
        sync.processed == sync.total_rows == stored + sync.rejected
        and sync.rejected == Reject.objects.filter(sync=sync).count()
    )


def test_a_statement_that_fails_ends_the_sync_in_error(site, fault):
    fault("RAISE EXCEPTION 'cannot run' USING ERRCODE = 'XX000';")
    worker = WorkerProcess()
    try:
        sync = ended(start(site, 60).pk, timeout=60)
    finally:
        worker.stop()
    assert sync.status == "error" and accounted(sync)
    assert set(Reject.objects.filter(sync=sync).values_list("status_code", flat=True)) == {"SRV-00100"}
    assert "reference" in sync.error_message and "cannot run" not in sync.error_message


def test_a_statement_that_never_finishes_ends_the_sync_after_its_overruns(site, fault):
    fault("PERFORM pg_sleep(600);")
    # statements are cancelled at 9/10 of the soft time limit: 2.7 s here
    worker = WorkerProcess(extra_env={"CELERY_TASK_SOFT_TIME_LIMIT": "3", "BULK_SYNC_CHUNK_OVERRUNS": "2"})
    try:
        sync = ended(start(site, 30).pk, timeout=90)
    finally:
        worker.stop()
    assert sync.status == "error" and accounted(sync)
    assert "time limit 2 times" in sync.error_message
