"""`bulk_uuid7()`: time-ordered UUIDs (RFC 9562 version 7) for records created in bulk.

PostgreSQL 15 has no uuidv7(). The first 48 bits are the milliseconds since 1970, the version
nibble is 7, and the rest (variant bits included) comes from gen_random_uuid(). See
kernel.models.UUID7 for why.
"""

from django.db import migrations

FUNCTION = """
CREATE FUNCTION bulk_uuid7() RETURNS uuid LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
  SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
           PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
           FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("bulkapi", "0011_native_date_parsing")]

    operations = [migrations.RunSQL(FUNCTION, "DROP FUNCTION bulk_uuid7()")]
