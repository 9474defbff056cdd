"""Fast paths for the sync's parse functions.

The common shapes (plain decimals, `YYYY-MM-DD` with a day that exists in every month) are parsed
by inlinable SQL expressions; anything else falls back to the lenient PL/pgSQL parsers of 0003.
Measured on 50,000 values: bulk_to_date 4.4 s -> 0.28 s, bulk_to_numeric 0.14 s -> 0.13 s.
`bulk_to_date` becomes STABLE (text::date reads DateStyle; ISO input parses the same under any).
"""

from django.db import migrations

FAST = r"""
ALTER FUNCTION bulk_to_numeric(text) RENAME TO bulk_to_numeric_slow;
CREATE FUNCTION bulk_to_numeric(t text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN t ~ '^[+-]?[0-9]{1,16}(\.[0-9]{1,20})?$' THEN t::numeric ELSE bulk_to_numeric_slow(t) END
$$;
DROP FUNCTION bulk_to_date(text);
CREATE FUNCTION bulk_to_date(t text) RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN t ~ '^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$' THEN t::date
              ELSE (bulk_to_timestamptz(t) AT TIME ZONE 'UTC')::date END
$$;
"""

SLOW = r"""
DROP FUNCTION bulk_to_numeric(text);
ALTER FUNCTION bulk_to_numeric_slow(text) RENAME TO bulk_to_numeric;
DROP FUNCTION bulk_to_date(text);
CREATE FUNCTION bulk_to_date(t text) RETURNS date
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT (bulk_to_timestamptz(t) AT TIME ZONE 'UTC')::date
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("bulkapi", "0005_entity_opportunity_batch")]

    operations = [migrations.RunSQL(FAST, SLOW)]
