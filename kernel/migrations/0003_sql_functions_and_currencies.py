"""Lenient, never-raising parse functions used by set-based syncs, and the ISO 4217 code list.

The functions return NULL instead of raising, so a bad value becomes a reject rather than
aborting the chunk's statement. Accepted date forms: YYYY-MM-DD and M/D/YYYY, each optionally
followed by a time H:MM[:SS[.fff]] and, for ISO forms, a zone (Z or +HH:MM); times without a zone
are UTC.
"""

from django.db import migrations

FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION bulk_to_numeric(t text) RETURNS numeric
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE n numeric;
BEGIN
  IF t !~ '^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,2})?$' THEN RETURN NULL; END IF;
  n := t::numeric;
  IF abs(n) >= 1e16 THEN RETURN NULL; END IF;
  RETURN n;
END $$;

CREATE OR REPLACE FUNCTION bulk_to_timestamptz(t text) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  m text[]; y int; mo int; d int; h int := 0; mi int := 0; s numeric := 0; off int := 0;
BEGIN
  m := regexp_match(t, '^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:[ T]([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}(?:\.[0-9]{1,9})?))?)?\s*(Z|[+-][0-9]{2}:?[0-9]{2})?$');
  IF m IS NOT NULL THEN
    y := m[1]; mo := m[2]; d := m[3];
  ELSE
    m := regexp_match(t, '^([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})(?: ([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}(?:\.[0-9]{1,9})?))?)?()$');
    IF m IS NULL THEN RETURN NULL; END IF;
    y := m[3]; mo := m[1]; d := m[2];
  END IF;
  IF m[4] IS NOT NULL THEN h := m[4]; mi := m[5]; END IF;
  IF m[6] IS NOT NULL THEN s := m[6]; END IF;
  IF y < 1 OR mo < 1 OR mo > 12 OR d < 1 OR h > 23 OR mi > 59 OR s >= 60 THEN RETURN NULL; END IF;
  IF d > extract(day from make_date(y, mo, 1) + interval '1 month - 1 day') THEN RETURN NULL; END IF;
  IF m[7] IS NOT NULL AND m[7] <> '' AND m[7] <> 'Z' THEN
    off := (substr(m[7], 2, 2)::int * 60 + right(m[7], 2)::int) * (CASE WHEN left(m[7], 1) = '-' THEN -1 ELSE 1 END);
  END IF;
  RETURN make_timestamptz(y, mo, d, h, mi, s::double precision, 'UTC') - make_interval(mins => off);
END $$;

CREATE OR REPLACE FUNCTION bulk_to_date(t text) RETURNS date
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT (bulk_to_timestamptz(t) AT TIME ZONE 'UTC')::date
$$;

CREATE OR REPLACE FUNCTION bulk_to_boolean(t text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT CASE lower(t) WHEN 'true' THEN true WHEN '1' THEN true WHEN 'yes' THEN true
                       WHEN 'false' THEN false WHEN '0' THEN false WHEN 'no' THEN false END
$$;
"""

DROP = """
DROP FUNCTION IF EXISTS bulk_to_boolean(text);
DROP FUNCTION IF EXISTS bulk_to_date(text);
DROP FUNCTION IF EXISTS bulk_to_timestamptz(text);
DROP FUNCTION IF EXISTS bulk_to_numeric(text);
"""


def load_currencies(apps, schema_editor):
    import pycountry

    Currency = apps.get_model("bulkapi", "Currency")
    Currency.objects.bulk_create(
        [Currency(code=c.alpha_3, name=c.name[:100]) for c in pycountry.currencies], ignore_conflicts=True
    )


class Migration(migrations.Migration):
    dependencies = [("bulkapi", "0002_initial")]

    operations = [
        migrations.RunSQL(FUNCTIONS, DROP),
        migrations.RunPython(load_currencies, migrations.RunPython.noop),
    ]
