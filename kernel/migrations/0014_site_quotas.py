"""Per-site storage quotas (pipeline.quotas): four nullable limits on the site (empty: the
SITE_QUOTA_* default)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('bulkapi', '0013_truncate_guard'),
    ]

    operations = [
        migrations.AddField(
            model_name='site',
            name='quota_batch_file_bytes',
            field=models.PositiveBigIntegerField(blank=True, help_text='Bytes of the batch upload files kept with their jobs. Empty: SITE_QUOTA_BATCH_FILE_BYTES; 0: no limit.', null=True),
        ),
        migrations.AddField(
            model_name='site',
            name='quota_rejects',
            field=models.PositiveBigIntegerField(blank=True, help_text='Rejected rows kept with the syncs; checked when an upload or a sync starts. Empty: SITE_QUOTA_REJECTS; 0: no limit.', null=True),
        ),
        migrations.AddField(
            model_name='site',
            name='quota_staged_bytes',
            field=models.PositiveBigIntegerField(blank=True, help_text='Bytes of the uploads those rows came in, as sent. Empty: SITE_QUOTA_STAGED_BYTES; 0: no limit.', null=True),
        ),
        migrations.AddField(
            model_name='site',
            name='quota_staged_rows',
            field=models.PositiveBigIntegerField(blank=True, help_text='Rows staged and not yet synced. Empty: SITE_QUOTA_STAGED_ROWS; 0: no limit.', null=True),
        ),
    ]
