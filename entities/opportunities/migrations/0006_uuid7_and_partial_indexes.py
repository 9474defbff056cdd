"""Opportunity uuids from bulk_uuid7() (time-ordered); company and owner indexed only where set.

Measured per created row (bench.indexes, 100,000 rows, backend CPU and WAL): the random uuid's
index cost 2-12 us and 92-111 bytes of WAL, a time-ordered one 1-4 us and 9-17 bytes less; the
company and owner indexes took a null entry for every bulk-created row (65 bytes of WAL each).
Every query by company or owner names one, so the partial indexes serve them all (the set-null
triggers of migration 0005 included: `company_id IN (...)` implies IS NOT NULL).
"""

import kernel.models
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('bulkapi', '0012_uuid7'),
        ('contacts', '0004_uuid7_and_partial_indexes'),
        ('opportunities', '0005_company_owner_checked_per_statement'),
    ]

    operations = [
        migrations.AlterField(
            model_name='opportunity',
            name='company',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='opportunities', to='contacts.account'),
        ),
        migrations.AlterField(
            model_name='opportunity',
            name='owner',
            field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='opportunities', to='opportunities.owner'),
        ),
        migrations.AlterField(
            model_name='opportunity',
            name='uuid',
            field=models.UUIDField(db_default=kernel.models.UUID7(), editable=False, unique=True),
        ),
        migrations.AddIndex(
            model_name='opportunity',
            index=models.Index(models.F('company'), condition=models.Q(('company__isnull', False)), name='opportunity_company'),
        ),
        migrations.AddIndex(
            model_name='opportunity',
            index=models.Index(models.F('owner'), condition=models.Q(('owner__isnull', False)), name='opportunity_owner'),
        ),
    ]
