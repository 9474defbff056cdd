from django.contrib.postgres.fields import ArrayField
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("syncs", "0003_sync_dense")]

    operations = [
        migrations.AddField(
            model_name="sync",
            name="lane_bounds",
            field=ArrayField(models.TextField(), blank=True, null=True, size=None),
        ),
        migrations.AddField(
            model_name="sync",
            name="first_range_rows",
            field=models.IntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="synclane",
            name="consumed_upto",
            field=models.IntegerField(default=0),
        ),
    ]
