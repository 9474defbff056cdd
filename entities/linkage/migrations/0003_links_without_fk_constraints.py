"""Links lose their FK constraints on opportunity and contact (a per-row RI check each) and get
the cascade back as statement-level AFTER DELETE triggers: deleting opportunities or contacts, by
the ORM or by raw SQL, deletes their links in one set-based statement. Link writers lock the
records they link FOR KEY SHARE (entities/linkage/sql.py, doors/batch/sql.py), so a delete racing a sync either
happens first (the sync does not link the record) or waits for the sync and then removes its links.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('contacts', '0003_redundant_indexes'),
        ('linkage', '0002_fewer_link_constraints_and_indexes'),
        ('opportunities', '0003_redundant_indexes'),
    ]

    operations = [
        migrations.RunSQL(
            """
            CREATE FUNCTION linkage_unlink_deleted_contacts() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              DELETE FROM linkage_opportunitycontact l USING gone g WHERE l.contact_id = g.id;
              RETURN NULL;
            END $$;
            CREATE TRIGGER contacts_contact_unlink AFTER DELETE ON contacts_contact
              REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION linkage_unlink_deleted_contacts();
            CREATE FUNCTION linkage_unlink_deleted_opportunities() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              DELETE FROM linkage_opportunitycontact l USING gone g WHERE l.opportunity_id = g.id;
              RETURN NULL;
            END $$;
            CREATE TRIGGER opportunities_opportunity_unlink AFTER DELETE ON opportunities_opportunity
              REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION linkage_unlink_deleted_opportunities();
            """,
            """
            DROP TRIGGER contacts_contact_unlink ON contacts_contact;
            DROP FUNCTION linkage_unlink_deleted_contacts();
            DROP TRIGGER opportunities_opportunity_unlink ON opportunities_opportunity;
            DROP FUNCTION linkage_unlink_deleted_opportunities();
            """,
        ),
        migrations.AlterField(
            model_name='opportunitycontact',
            name='contact',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='opportunity_links', to='contacts.contact'),
        ),
        migrations.AlterField(
            model_name='opportunitycontact',
            name='opportunity',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='contact_links', to='opportunities.opportunity'),
        ),
    ]
