"""A batch row's `job`: checked once per statement instead of per row.

The FK constraint queued one RI trigger event for every row of a job's row map (a million for a
million-row file, all naming the same job), fired in the sync's chunks. After each INSERT or UPDATE
statement the trigger below locks the jobs the new rows name FOR KEY SHARE, as the RI check would,
and raises foreign_key_violation if one is missing. Deleting a job that rows still name raises (NO
ACTION, as the constraint did; the ORM deletes a job's rows first).
"""

import django.db.models.deletion
from django.db import migrations, models

FORWARD = """
CREATE FUNCTION batches_rows_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  jobs bigint[];
BEGIN
  SELECT array_agg(p.job_id) INTO jobs FROM (SELECT DISTINCT n.job_id FROM new_rows n) p;
  PERFORM 1 FROM batches_batchjob j WHERE j.id = ANY (jobs) FOR KEY SHARE;
  IF (SELECT count(*) FROM batches_batchjob j WHERE j.id = ANY (jobs)) <> coalesce(cardinality(jobs), 0) THEN
    RAISE EXCEPTION 'batch row names a job that does not exist' USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER batches_rows_insert AFTER INSERT ON batches_batchrow
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION batches_rows_check();
CREATE TRIGGER batches_rows_update AFTER UPDATE ON batches_batchrow
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION batches_rows_check();

CREATE FUNCTION batches_job_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM batches_batchrow r WHERE r.job_id IN (SELECT g.id FROM gone g)) THEN
    RAISE EXCEPTION 'batches_batchjob rows that batch rows still name cannot be deleted'
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER batches_job_deleted AFTER DELETE ON batches_batchjob
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION batches_job_deleted();
"""

BACKWARD = """
DROP TRIGGER batches_rows_insert ON batches_batchrow;
DROP TRIGGER batches_rows_update ON batches_batchrow;
DROP FUNCTION batches_rows_check();
DROP TRIGGER batches_job_deleted ON batches_batchjob;
DROP FUNCTION batches_job_deleted();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('batches', '0004_batch_file'),
    ]

    operations = [
        migrations.AlterField(
            model_name='batchrow',
            name='job',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='batches.batchjob'),
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
