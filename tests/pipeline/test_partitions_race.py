"""A staging partition is dropped only after a check made under the lock that dropping takes: an
upload still filling a partition the sequence has already passed (sealed) holds the table, and
once it commits its rows are seen and the partition stays. Committed data, real connections."""

import psycopg
import pytest

import pipeline.partitions
from pipeline.models import StagedRow, StagedUpload
from pipeline.partitions import partitions, staged_partitions_drop, staged_partitions_upkeep
from tests.concurrency import Racer, conninfo
from tests.factories import ImportDefinitionFactory

pytestmark = pytest.mark.django_db(transaction=True)

WIDTH = 10


def test_a_partition_an_uncommitted_upload_fills_is_not_dropped_when_the_upload_commits(settings, monkeypatch):
    settings.BULK_STAGING_PARTITION_ROWS, settings.BULK_STAGING_PARTITIONS_AHEAD = WIDTH, 1
    monkeypatch.setattr(pipeline.partitions, "LOCK_TIMEOUT", "30s")  # the drop waits for the upload
    with psycopg.connect(conninfo(), autocommit=True) as conn:
        conn.execute("SELECT setval('bulkapi_stagedrow_id_seq', (SELECT max(hi) FROM bulkapi_stagedpartition))")
    staged_partitions_upkeep()
    staged_partitions_drop()  # the partitions the sequence jumped over: only ours is left to judge
    filling = partitions()[-1]
    definition = ImportDefinitionFactory(data_retention_seconds=3600)
    upload = StagedUpload.objects.create(definition=definition, content_type="text/csv")
    loader = psycopg.connect(conninfo())
    try:
        loader.execute(  # draws every id of the partition; not committed
            "INSERT INTO bulkapi_stagedrow (definition_id, upload_id, data)"
            " SELECT %s, %s, '{}'::jsonb FROM generate_series(1, %s)",
            [definition.pk, upload.pk, WIDTH],
        )
        staged_partitions_upkeep()
        assert next(p for p in partitions() if p.relname == filling.relname).sealed_at is not None

        dropper = Racer(staged_partitions_drop)
        dropper.wait_until_blocked()  # it saw an empty partition, and waits for the table
        loader.commit()
    finally:
        loader.close()

    assert filling.relname not in dropper.join()
    assert filling.relname in {p.relname for p in partitions()}
    assert StagedRow.objects.filter(definition=definition).count() == WIDTH
