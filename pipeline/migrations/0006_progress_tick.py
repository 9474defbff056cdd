"""`bulk_progress(label, n)`: a running chunk's progress, readable by other sessions at once.

A chunk is one transaction, so its counters are invisible until it commits. Every PROGRESS_TICK_ROWS
rows its source query sets its session's `application_name` to `bulk-sync:<sync>:<lane>:<rows>`
(transaction-local: it reverts at commit or rollback), which `pg_stat_activity` shows to every other
session immediately; `GET /syncs/{id}` adds it up as `progress.inFlight`. It costs a row counter and a
function call per thousand rows."""

from django.db import migrations

FUNCTION = """
CREATE FUNCTION bulk_progress(label text, n bigint) RETURNS boolean
LANGUAGE sql VOLATILE PARALLEL UNSAFE AS $$
  SELECT set_config('application_name', label || n, true) IS NOT NULL
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("syncs", "0005_sync_cancel_retry_lane_heartbeat")]

    operations = [migrations.RunSQL(FUNCTION, "DROP FUNCTION IF EXISTS bulk_progress(text, bigint);")]
