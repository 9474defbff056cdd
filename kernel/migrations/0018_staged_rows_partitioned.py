"""Staged rows: a table partitioned by RANGE (id), so that retention drops whole partitions.

Ids come from one sequence and only grow, so an id range is a stretch of time: once the sequence
is past a partition's upper bound nothing can ever be staged into it again, and a partition whose
rows are all consumed (syncs delete what they ran) or past their retention is dropped at once,
instead of deleted row by row and vacuumed (docs/scaling.md "Growth of the data").

The existing table, with its rows, becomes the first partition (ids up to the sequence's last
value): no row is copied. The key stays (definition_id, id), which holds the partition key. A
partitioned table cannot keep an identity column on PostgreSQL 15, so `id` takes its default from
a sequence owned by the column, as a `bigserial` does. A DEFAULT partition catches ids past the
partitions created ahead (`pipeline.partitions.staged_partitions_upkeep`, run by beat), and
`bulkapi_stagedpartition` records each range partition's bounds and when the sequence passed its
upper bound (`sealed_at`): every row in it belongs to an upload made before then.

The table name and every column stay as they were; COPY and INSERT into `bulkapi_stagedrow` are
routed to the partitions by PostgreSQL.
"""

from django.db import migrations

# Width of the first range partition made here; later ones take BULK_STAGING_PARTITION_ROWS.
FIRST_WIDTH = 10_000_000

FORWARD = f"""
DO $$
DECLARE
  seq regclass;
  top bigint;
BEGIN
  LOCK TABLE bulkapi_stagedrow IN ACCESS EXCLUSIVE MODE;
  seq := pg_get_serial_sequence('bulkapi_stagedrow', 'id')::regclass;
  top := greatest(coalesce(pg_sequence_last_value(seq), 0), coalesce((SELECT max(id) FROM bulkapi_stagedrow), 0));
  IF (SELECT attidentity FROM pg_attribute WHERE attrelid = 'bulkapi_stagedrow'::regclass AND attname = 'id') <> '' THEN
    ALTER TABLE bulkapi_stagedrow ALTER COLUMN id DROP IDENTITY;
  ELSE
    ALTER TABLE bulkapi_stagedrow ALTER COLUMN id DROP DEFAULT;
    EXECUTE format('DROP SEQUENCE %s', seq);
  END IF;
  ALTER TABLE bulkapi_stagedrow RENAME TO bulkapi_stagedrow_from_0;
  ALTER INDEX bulkapi_stagedrow_pkey RENAME TO bulkapi_stagedrow_from_0_pkey;
  CREATE TABLE bulkapi_stagedrow (LIKE bulkapi_stagedrow_from_0 INCLUDING STORAGE) PARTITION BY RANGE (id);
  ALTER TABLE bulkapi_stagedrow ADD CONSTRAINT bulkapi_stagedrow_pkey PRIMARY KEY (definition_id, id);
  EXECUTE format('CREATE SEQUENCE bulkapi_stagedrow_id_seq AS bigint START WITH %s OWNED BY bulkapi_stagedrow.id', top + 1);
  ALTER TABLE bulkapi_stagedrow ALTER COLUMN id SET DEFAULT nextval('bulkapi_stagedrow_id_seq');
  EXECUTE format('ALTER TABLE bulkapi_stagedrow ATTACH PARTITION bulkapi_stagedrow_from_0 FOR VALUES FROM (MINVALUE) TO (%s)', top + 1);
  CREATE TABLE bulkapi_stagedrow_default PARTITION OF bulkapi_stagedrow DEFAULT;
  EXECUTE format('CREATE TABLE %I PARTITION OF bulkapi_stagedrow FOR VALUES FROM (%s) TO (%s)',
                 'bulkapi_stagedrow_from_' || (top + 1), top + 1, top + 1 + {FIRST_WIDTH});
  CREATE TABLE bulkapi_stagedpartition (
    relname text PRIMARY KEY,
    lo bigint NOT NULL,
    hi bigint NOT NULL,
    sealed_at timestamptz
  );
  -- The first partition holds every row staged so far: sealed now.
  INSERT INTO bulkapi_stagedpartition VALUES
    ('bulkapi_stagedrow_from_0', -9223372036854775808, top + 1, now()),
    ('bulkapi_stagedrow_from_' || (top + 1), top + 1, top + 1 + {FIRST_WIDTH}, NULL);
END $$;
"""

# Back to one plain table: the rows are copied out of the partitions.
BACKWARD = """
LOCK TABLE bulkapi_stagedrow IN ACCESS EXCLUSIVE MODE;
CREATE TABLE bulkapi_stagedrow_plain (LIKE bulkapi_stagedrow INCLUDING DEFAULTS INCLUDING STORAGE);
INSERT INTO bulkapi_stagedrow_plain SELECT * FROM bulkapi_stagedrow;
ALTER SEQUENCE bulkapi_stagedrow_id_seq OWNED BY NONE;
DROP TABLE bulkapi_stagedrow;
ALTER TABLE bulkapi_stagedrow_plain RENAME TO bulkapi_stagedrow;
ALTER TABLE bulkapi_stagedrow ADD CONSTRAINT bulkapi_stagedrow_pkey PRIMARY KEY (definition_id, id);
ALTER SEQUENCE bulkapi_stagedrow_id_seq OWNED BY bulkapi_stagedrow.id;
DROP TABLE bulkapi_stagedpartition;
"""


class Migration(migrations.Migration):
    dependencies = [("bulkapi", "0017_idempotency_claim")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
