"""Contact and account uuids from bulk_uuid7() (time-ordered); contacts' phone, visitor id and
account indexed only where set (most contacts a batch creates have none of them, and every
lookup by one names a value). See opportunities.0006.
"""

import kernel.models
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('bulkapi', '0012_uuid7'),
        ('contacts', '0003_redundant_indexes'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='contact',
            name='contact_site_phone',
        ),
        migrations.RemoveIndex(
            model_name='contact',
            name='contact_site_visitor',
        ),
        migrations.RemoveIndex(
            model_name='contact',
            name='contact_account',
        ),
        migrations.AlterField(
            model_name='account',
            name='uuid',
            field=models.UUIDField(db_default=kernel.models.UUID7(), editable=False, unique=True),
        ),
        migrations.AlterField(
            model_name='contact',
            name='uuid',
            field=models.UUIDField(db_default=kernel.models.UUID7(), editable=False, unique=True),
        ),
        migrations.AddIndex(
            model_name='contact',
            index=models.Index(models.F('site'), models.F('phone'), condition=models.Q(('phone__isnull', False)), name='contact_site_phone'),
        ),
        migrations.AddIndex(
            model_name='contact',
            index=models.Index(models.F('site'), models.F('visitor_id'), condition=models.Q(('visitor_id__isnull', False)), name='contact_site_visitor'),
        ),
        migrations.AddIndex(
            model_name='contact',
            index=models.Index(condition=models.Q(('account__isnull', False)), fields=['account'], name='contact_account'),
        ),
    ]
