"""Contact `site` and `account`: checked once per statement instead of per row, as opportunities'
references are (opportunities 0004, 0005).

Their FK constraints queued two RI trigger events for every inserted contact (the account one even
when null); a batch sync fired them for every contact it created, inside its contact step, which
lanes take one at a time. After each INSERT or UPDATE statement the trigger below locks the sites
and accounts the new rows name FOR KEY SHARE, as the RI check would, and raises
foreign_key_violation if one is missing. Deleting a site that contacts still name raises (NO ACTION,
as the constraint did; the ORM deletes a site's contacts first); deleting an account sets its
contacts' account to null (their `on_delete`), for the ORM and raw SQL alike.
"""

import django.db.models.deletion
from django.db import migrations, models

FORWARD = """
CREATE FUNCTION contacts_refs_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  sites bigint[];
  accounts bigint[];
BEGIN
  -- One pass over the new rows; the rest works on the few distinct ids.
  SELECT array_agg(DISTINCT p.site_id),
         array_agg(DISTINCT p.account_id) FILTER (WHERE p.account_id IS NOT NULL)
    INTO sites, accounts
  FROM (SELECT n.site_id, n.account_id FROM new_rows n GROUP BY 1, 2) p;
  PERFORM 1 FROM bulkapi_site s WHERE s.id = ANY (sites) FOR KEY SHARE;
  IF accounts IS NOT NULL THEN
    PERFORM 1 FROM contacts_account a WHERE a.id = ANY (accounts) FOR KEY SHARE;
  END IF;
  IF (SELECT count(*) FROM bulkapi_site s WHERE s.id = ANY (sites)) <> coalesce(cardinality(sites), 0)
     OR (accounts IS NOT NULL AND (SELECT count(*) FROM contacts_account a WHERE a.id = ANY (accounts))
        <> cardinality(accounts)) THEN
    RAISE EXCEPTION 'contact names a site or account that does not exist'
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER contacts_refs_insert AFTER INSERT ON contacts_contact
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION contacts_refs_check();
CREATE TRIGGER contacts_refs_update AFTER UPDATE ON contacts_contact
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION contacts_refs_check();

CREATE FUNCTION contacts_refs_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'contacts_account' THEN
    UPDATE contacts_contact SET account_id = NULL WHERE account_id IN (SELECT g.id FROM gone g);
  ELSIF EXISTS (SELECT 1 FROM contacts_contact c WHERE c.site_id IN (SELECT g.id FROM gone g)) THEN
    RAISE EXCEPTION 'bulkapi_site rows that contacts still name cannot be deleted'
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER contacts_account_deleted AFTER DELETE ON contacts_account
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION contacts_refs_deleted();
CREATE TRIGGER contacts_site_deleted AFTER DELETE ON bulkapi_site
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION contacts_refs_deleted();
"""

BACKWARD = """
DROP TRIGGER contacts_refs_insert ON contacts_contact;
DROP TRIGGER contacts_refs_update ON contacts_contact;
DROP FUNCTION contacts_refs_check();
DROP TRIGGER contacts_account_deleted ON contacts_account;
DROP TRIGGER contacts_site_deleted ON bulkapi_site;
DROP FUNCTION contacts_refs_deleted();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('bulkapi', '0012_uuid7'),
        ('contacts', '0004_uuid7_and_partial_indexes'),
    ]

    operations = [
        migrations.AlterField(
            model_name='contact',
            name='account',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='contacts', to='contacts.account'),
        ),
        migrations.AlterField(
            model_name='contact',
            name='site',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='contacts', to='bulkapi.site'),
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
