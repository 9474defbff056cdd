"""TRUNCATE refused where a trigger-checked reference still names the table's rows.

References checked by statement triggers instead of FK constraints (opportunities 0004/0005,
contacts 0005, batches 0005, linkage 0003) guard INSERT, UPDATE and DELETE, but TRUNCATE fires no
delete trigger: `TRUNCATE contacts_account` left contacts and opportunities naming accounts that
were gone. PostgreSQL refuses to truncate a table an FK constraint references unless the
referencing table goes in the same command; an AFTER TRUNCATE trigger per guarded reference does
the same here. Such triggers fire once the whole command has truncated every table it names, so
`TRUNCATE a, b` of a table and its referrers passes (as Django's test flush does).

The guards of every app are listed here, in one place, so that the list can be read whole.
"""

from django.db import migrations

FORWARD = r"""
CREATE FUNCTION bulk_refuse_truncate_if_named() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  named boolean;
BEGIN
  -- TG_ARGV: the referencing table and its column naming rows of the truncated table.
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I IS NOT NULL)', TG_ARGV[0], TG_ARGV[1]) INTO named;
  IF named THEN
    RAISE EXCEPTION 'cannot truncate a table referenced in a foreign key constraint'
      USING ERRCODE = 'feature_not_supported',
            DETAIL = format('Table "%s" references "%s" (column %s).', TG_ARGV[0], TG_TABLE_NAME, TG_ARGV[1]),
            HINT = format('Truncate table "%s" at the same time.', TG_ARGV[0]);
  END IF;
  RETURN NULL;
END $$;
"""

# (truncated table, referencing table, referencing column): the references checked by triggers.
GUARDS = (
    ("bulkapi_site", "opportunities_opportunity", "site_id"),
    ("opportunities_stage", "opportunities_opportunity", "stage_id"),
    ("contacts_account", "opportunities_opportunity", "company_id"),
    ("opportunities_owner", "opportunities_opportunity", "owner_id"),
    ("bulkapi_site", "contacts_contact", "site_id"),
    ("contacts_account", "contacts_contact", "account_id"),
    ("batches_batchjob", "batches_batchrow", "job_id"),
    ("opportunities_opportunity", "linkage_opportunitycontact", "opportunity_id"),
    ("contacts_contact", "linkage_opportunitycontact", "contact_id"),
)


def _trigger(referrer: str, column: str) -> str:
    return f"{referrer}_{column}_truncate_guard"


FORWARD += "".join(
    f"CREATE TRIGGER {_trigger(referrer, column)} AFTER TRUNCATE ON {table} FOR EACH STATEMENT"
    f" EXECUTE FUNCTION bulk_refuse_truncate_if_named('{referrer}', '{column}');\n"
    for table, referrer, column in GUARDS
)
BACKWARD = "".join(f"DROP TRIGGER {_trigger(r, c)} ON {t};\n" for t, r, c in GUARDS)
BACKWARD += "DROP FUNCTION bulk_refuse_truncate_if_named();"


class Migration(migrations.Migration):
    dependencies = [
        ("bulkapi", "0012_uuid7"),
        ("opportunities", "0006_uuid7_and_partial_indexes"),
        ("contacts", "0005_refs_checked_per_statement"),
        ("batches", "0005_refs_checked_per_statement"),
        ("linkage", "0003_links_without_fk_constraints"),
    ]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
