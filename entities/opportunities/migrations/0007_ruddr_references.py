"""Ruddr's references: uuids on stages, owners and tags; opportunity types, lead sources,
practices, clients and projects; an opportunity's type, lead source, practice, projects, cloud
folder and Salesforce/HubSpot ids; stage probability null until set, and a stage's `is_active`.

The three new references of an opportunity are checked once per statement, like `company` and
`owner` (0005): the statement trigger's function now also locks and checks the types, lead sources
and practices the new rows name, and deleting one sets the opportunities naming it to null.
Measured (fast-mode cluster, 500,000 rows, best of 5): the trigger's one pass over the new rows
went from 426 to 535 ns a row with the three more (null) columns in it; three FK constraints would
have queued three RI events a row, about 1.5 us (0005).
"""

import kernel.models
import django.db.models.deletion
import django.db.models.functions.text
from importlib import import_module

from django.db import migrations, models

PREVIOUS_CHECK = import_module("entities.opportunities.migrations.0005_company_owner_checked_per_statement").CHECK


CHECK = """
CREATE OR REPLACE FUNCTION opportunities_refs_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  sites bigint[];
  stages bigint[];
  companies bigint[];
  owners bigint[];
  kinds bigint[];
  sources bigint[];
  practices bigint[];
BEGIN
  -- One pass over the new rows; the rest works on the few distinct ids.
  SELECT array_agg(DISTINCT p.site_id), array_agg(DISTINCT p.stage_id),
         array_agg(DISTINCT p.company_id) FILTER (WHERE p.company_id IS NOT NULL),
         array_agg(DISTINCT p.owner_id) FILTER (WHERE p.owner_id IS NOT NULL),
         array_agg(DISTINCT p.opportunity_type_id) FILTER (WHERE p.opportunity_type_id IS NOT NULL),
         array_agg(DISTINCT p.lead_source_id) FILTER (WHERE p.lead_source_id IS NOT NULL),
         array_agg(DISTINCT p.practice_id) FILTER (WHERE p.practice_id IS NOT NULL)
    INTO sites, stages, companies, owners, kinds, sources, practices
  FROM (SELECT n.site_id, n.stage_id, n.company_id, n.owner_id, n.opportunity_type_id, n.lead_source_id,
               n.practice_id
        FROM new_rows n GROUP BY 1, 2, 3, 4, 5, 6, 7) p;
  PERFORM 1 FROM bulkapi_site s WHERE s.id = ANY (sites) FOR KEY SHARE;
  PERFORM 1 FROM opportunities_stage s WHERE s.id = ANY (stages) FOR KEY SHARE;
  IF companies IS NOT NULL THEN
    PERFORM 1 FROM contacts_account a WHERE a.id = ANY (companies) FOR KEY SHARE;
  END IF;
  IF owners IS NOT NULL THEN
    PERFORM 1 FROM opportunities_owner w WHERE w.id = ANY (owners) FOR KEY SHARE;
  END IF;
  IF kinds IS NOT NULL THEN
    PERFORM 1 FROM opportunities_opportunitytype t WHERE t.id = ANY (kinds) FOR KEY SHARE;
  END IF;
  IF sources IS NOT NULL THEN
    PERFORM 1 FROM opportunities_leadsource l WHERE l.id = ANY (sources) FOR KEY SHARE;
  END IF;
  IF practices IS NOT NULL THEN
    PERFORM 1 FROM opportunities_practice r WHERE r.id = ANY (practices) FOR KEY SHARE;
  END IF;
  IF (SELECT count(*) FROM bulkapi_site s WHERE s.id = ANY (sites)) <> coalesce(cardinality(sites), 0)
     OR (SELECT count(*) FROM opportunities_stage s WHERE s.id = ANY (stages))
        <> coalesce(cardinality(stages), 0)
     OR (companies IS NOT NULL AND (SELECT count(*) FROM contacts_account a WHERE a.id = ANY (companies))
        <> cardinality(companies))
     OR (owners IS NOT NULL AND (SELECT count(*) FROM opportunities_owner w WHERE w.id = ANY (owners))
        <> cardinality(owners))
     OR (kinds IS NOT NULL AND (SELECT count(*) FROM opportunities_opportunitytype t WHERE t.id = ANY (kinds))
        <> cardinality(kinds))
     OR (sources IS NOT NULL AND (SELECT count(*) FROM opportunities_leadsource l WHERE l.id = ANY (sources))
        <> cardinality(sources))
     OR (practices IS NOT NULL AND (SELECT count(*) FROM opportunities_practice r WHERE r.id = ANY (practices))
        <> cardinality(practices)) THEN
    RAISE EXCEPTION 'opportunity names a site, stage, company, owner, type, lead source or practice that does not exist'
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NULL;
END $$;
"""

SET_NULL = """
CREATE FUNCTION opportunities_ruddr_refs_set_null() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'opportunities_opportunitytype' THEN
    UPDATE opportunities_opportunity SET opportunity_type_id = NULL
     WHERE opportunity_type_id IN (SELECT g.id FROM gone g);
  ELSIF TG_TABLE_NAME = 'opportunities_leadsource' THEN
    UPDATE opportunities_opportunity SET lead_source_id = NULL WHERE lead_source_id IN (SELECT g.id FROM gone g);
  ELSE
    UPDATE opportunities_opportunity SET practice_id = NULL WHERE practice_id IN (SELECT g.id FROM gone g);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER opportunities_type_deleted AFTER DELETE ON opportunities_opportunitytype
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION opportunities_ruddr_refs_set_null();
CREATE TRIGGER opportunities_lead_source_deleted AFTER DELETE ON opportunities_leadsource
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION opportunities_ruddr_refs_set_null();
CREATE TRIGGER opportunities_practice_deleted AFTER DELETE ON opportunities_practice
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION opportunities_ruddr_refs_set_null();
"""

DROP_SET_NULL = """
DROP TRIGGER opportunities_type_deleted ON opportunities_opportunitytype;
DROP TRIGGER opportunities_lead_source_deleted ON opportunities_leadsource;
DROP TRIGGER opportunities_practice_deleted ON opportunities_practice;
DROP FUNCTION opportunities_ruddr_refs_set_null();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('bulkapi', '0014_site_quotas'),
        ('contacts', '0005_refs_checked_per_statement'),
        ('opportunities', '0006_uuid7_and_partial_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='opportunity',
            name='cloud_folder_url',
            field=models.CharField(blank=True, max_length=1024, null=True),
        ),
        migrations.AddField(
            model_name='opportunity',
            name='hubspot_id',
            field=models.CharField(blank=True, max_length=255, null=True),
        ),
        migrations.AddField(
            model_name='opportunity',
            name='salesforce_id',
            field=models.CharField(blank=True, max_length=255, null=True),
        ),
        migrations.AddField(
            model_name='owner',
            name='uuid',
            field=models.UUIDField(db_default=kernel.models.UUID7(), editable=False, unique=True),
        ),
        migrations.AddField(
            model_name='stage',
            name='is_active',
            field=models.BooleanField(db_default=True, default=True),
        ),
        migrations.AddField(
            model_name='stage',
            name='uuid',
            field=models.UUIDField(db_default=kernel.models.UUID7(), editable=False, unique=True),
        ),
        migrations.AddField(
            model_name='tag',
            name='uuid',
            field=models.UUIDField(db_default=kernel.models.UUID7(), editable=False, unique=True),
        ),
        migrations.AlterField(
            model_name='stage',
            name='probability',
            field=models.DecimalField(blank=True, decimal_places=4, max_digits=5, null=True),
        ),
        migrations.CreateModel(
            name='Client',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('uuid', models.UUIDField(db_default=kernel.models.UUID7(), editable=False, unique=True)),
                ('key', models.SlugField(max_length=255)),
                ('name', models.CharField(max_length=255)),
                ('company', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='client', to='contacts.account')),
                ('site', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='clients', to='bulkapi.site')),
            ],
        ),
        migrations.CreateModel(
            name='LeadSource',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('uuid', models.UUIDField(db_default=kernel.models.UUID7(), editable=False, unique=True)),
                ('name', models.CharField(max_length=255)),
                ('is_active', models.BooleanField(db_default=True, default=True)),
                ('site', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='lead_sources', to='bulkapi.site')),
            ],
        ),
        migrations.AddField(
            model_name='opportunity',
            name='lead_source',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='opportunities', to='opportunities.leadsource'),
        ),
        migrations.CreateModel(
            name='OpportunityType',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('uuid', models.UUIDField(db_default=kernel.models.UUID7(), editable=False, unique=True)),
                ('name', models.CharField(max_length=255)),
                ('is_active', models.BooleanField(db_default=True, default=True)),
                ('site', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='opportunity_types', to='bulkapi.site')),
            ],
        ),
        migrations.AddField(
            model_name='opportunity',
            name='opportunity_type',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='opportunities', to='opportunities.opportunitytype'),
        ),
        migrations.CreateModel(
            name='Practice',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('uuid', models.UUIDField(db_default=kernel.models.UUID7(), editable=False, unique=True)),
                ('name', models.CharField(max_length=255)),
                ('is_active', models.BooleanField(db_default=True, default=True)),
                ('site', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='practices', to='bulkapi.site')),
            ],
        ),
        migrations.AddField(
            model_name='opportunity',
            name='practice',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='opportunities', to='opportunities.practice'),
        ),
        migrations.CreateModel(
            name='Project',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('uuid', models.UUIDField(db_default=kernel.models.UUID7(), editable=False, unique=True)),
                ('name', models.CharField(max_length=255)),
                ('is_active', models.BooleanField(db_default=True, default=True)),
                ('client', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='projects', to='opportunities.client')),
                ('site', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='projects', to='bulkapi.site')),
            ],
        ),
        migrations.CreateModel(
            name='OpportunityProject',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('amount', models.DecimalField(blank=True, decimal_places=4, max_digits=20, null=True)),
                ('opportunity', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='project_lines', to='opportunities.opportunity')),
                ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='opportunity_lines', to='opportunities.project')),
            ],
            options={
                'ordering': ['id'],
            },
        ),
        migrations.AddField(
            model_name='opportunity',
            name='projects',
            field=models.ManyToManyField(blank=True, related_name='opportunities', through='opportunities.OpportunityProject', to='opportunities.project'),
        ),
        migrations.AddIndex(
            model_name='opportunity',
            index=models.Index(models.F('opportunity_type'), condition=models.Q(('opportunity_type__isnull', False)), name='opportunity_type'),
        ),
        migrations.AddIndex(
            model_name='opportunity',
            index=models.Index(models.F('lead_source'), condition=models.Q(('lead_source__isnull', False)), name='opportunity_lead_source'),
        ),
        migrations.AddIndex(
            model_name='opportunity',
            index=models.Index(models.F('practice'), condition=models.Q(('practice__isnull', False)), name='opportunity_practice'),
        ),
        migrations.AddConstraint(
            model_name='client',
            constraint=models.UniqueConstraint(models.F('site'), models.F('key'), name='client_site_key_unique'),
        ),
        migrations.AddConstraint(
            model_name='leadsource',
            constraint=models.UniqueConstraint(models.F('site'), django.db.models.functions.text.Lower('name'), name='leadsource_site_name_ci_unique'),
        ),
        migrations.AddConstraint(
            model_name='opportunitytype',
            constraint=models.UniqueConstraint(models.F('site'), django.db.models.functions.text.Lower('name'), name='opportunitytype_site_name_ci_unique'),
        ),
        migrations.AddConstraint(
            model_name='practice',
            constraint=models.UniqueConstraint(models.F('site'), django.db.models.functions.text.Lower('name'), name='practice_site_name_ci_unique'),
        ),
        migrations.AddConstraint(
            model_name='opportunityproject',
            constraint=models.UniqueConstraint(models.F('opportunity'), models.F('project'), name='opportunityproject_unique'),
        ),
        migrations.RunSQL(CHECK + SET_NULL, DROP_SET_NULL + PREVIOUS_CHECK),
    ]
