"""Opportunity `company` and `owner`: checked once per statement, like `site` and `stage` (0004).

Their FK constraints queued two RI trigger events for every inserted opportunity, even with both
columns null (a bulk create never sets them); firing those was about 1 us per row, a twentieth of
a create sync. The statement trigger of 0004 now also locks the accounts and owners the new rows
name FOR KEY SHARE and raises foreign_key_violation if one is missing. Deleting an account or an
owner sets the opportunities naming it to null (their `on_delete`), for the ORM and raw SQL alike.
"""

import django.db.models.deletion
from django.db import migrations, models

CHECK = """
CREATE OR REPLACE FUNCTION opportunities_refs_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  sites bigint[];
  stages bigint[];
  companies bigint[];
  owners bigint[];
BEGIN
  -- One pass over the new rows; the rest works on the few distinct ids.
  SELECT array_agg(DISTINCT p.site_id), array_agg(DISTINCT p.stage_id),
         array_agg(DISTINCT p.company_id) FILTER (WHERE p.company_id IS NOT NULL),
         array_agg(DISTINCT p.owner_id) FILTER (WHERE p.owner_id IS NOT NULL)
    INTO sites, stages, companies, owners
  FROM (SELECT n.site_id, n.stage_id, n.company_id, n.owner_id FROM new_rows n GROUP BY 1, 2, 3, 4) p;
  PERFORM 1 FROM bulkapi_site s WHERE s.id = ANY (sites) FOR KEY SHARE;
  PERFORM 1 FROM opportunities_stage s WHERE s.id = ANY (stages) FOR KEY SHARE;
  IF companies IS NOT NULL THEN
    PERFORM 1 FROM contacts_account a WHERE a.id = ANY (companies) FOR KEY SHARE;
  END IF;
  IF owners IS NOT NULL THEN
    PERFORM 1 FROM opportunities_owner w WHERE w.id = ANY (owners) FOR KEY SHARE;
  END IF;
  IF (SELECT count(*) FROM bulkapi_site s WHERE s.id = ANY (sites)) <> coalesce(cardinality(sites), 0)
     OR (SELECT count(*) FROM opportunities_stage s WHERE s.id = ANY (stages))
        <> coalesce(cardinality(stages), 0)
     OR (companies IS NOT NULL AND (SELECT count(*) FROM contacts_account a WHERE a.id = ANY (companies))
        <> cardinality(companies))
     OR (owners IS NOT NULL AND (SELECT count(*) FROM opportunities_owner w WHERE w.id = ANY (owners))
        <> cardinality(owners)) THEN
    RAISE EXCEPTION 'opportunity names a site, stage, company or owner that does not exist'
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NULL;
END $$;
"""

PREVIOUS_CHECK = """
CREATE OR REPLACE FUNCTION opportunities_refs_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  sites bigint[];
  stages bigint[];
BEGIN
  SELECT array_agg(DISTINCT p.site_id), array_agg(DISTINCT p.stage_id) INTO sites, stages
  FROM (SELECT n.site_id, n.stage_id FROM new_rows n GROUP BY 1, 2) p;
  PERFORM 1 FROM bulkapi_site s WHERE s.id = ANY (sites) FOR KEY SHARE;
  PERFORM 1 FROM opportunities_stage s WHERE s.id = ANY (stages) FOR KEY SHARE;
  IF (SELECT count(*) FROM bulkapi_site s WHERE s.id = ANY (sites)) <> coalesce(cardinality(sites), 0)
     OR (SELECT count(*) FROM opportunities_stage s WHERE s.id = ANY (stages))
        <> coalesce(cardinality(stages), 0) THEN
    RAISE EXCEPTION 'opportunity names a site or stage that does not exist'
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NULL;
END $$;
"""

SET_NULL = """
CREATE FUNCTION opportunities_refs_set_null() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'contacts_account' THEN
    UPDATE opportunities_opportunity SET company_id = NULL WHERE company_id IN (SELECT g.id FROM gone g);
  ELSE
    UPDATE opportunities_opportunity SET owner_id = NULL WHERE owner_id IN (SELECT g.id FROM gone g);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER opportunities_company_deleted AFTER DELETE ON contacts_account
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION opportunities_refs_set_null();
CREATE TRIGGER opportunities_owner_deleted AFTER DELETE ON opportunities_owner
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION opportunities_refs_set_null();
"""

DROP_SET_NULL = """
DROP TRIGGER opportunities_company_deleted ON contacts_account;
DROP TRIGGER opportunities_owner_deleted ON opportunities_owner;
DROP FUNCTION opportunities_refs_set_null();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('contacts', '0003_redundant_indexes'),
        ('opportunities', '0004_site_stage_checked_per_statement'),
    ]

    operations = [
        migrations.RunSQL(CHECK + SET_NULL, DROP_SET_NULL + PREVIOUS_CHECK),
        migrations.AlterField(
            model_name='opportunity',
            name='company',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='opportunities', to='contacts.account'),
        ),
        migrations.AlterField(
            model_name='opportunity',
            name='owner',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='opportunities', to='opportunities.owner'),
        ),
    ]
