"""Capillary's coupon upload jobs, for opportunities: one per file uploaded to a "series".

The series is an opportunity import definition of the Eloqua door. Each upload runs on the shared
pipeline as a batch job does: a `batches.BatchJob` owns an internal copy of the series (same fields
and rules) holding only this file's staged rows, the sync that runs them, the stored file and the
row map the success and error files are written from. When customers are tagged, an internal
opportunity-contact linkage definition holds the file's (identifier, customer) pairs, and its sync
runs once the opportunity sync has ended (`services.upload_job_sync_ended`).
"""

from __future__ import annotations

from django.db import models

from doors.batch.models import BatchJob
from kernel.models import Site, User
from kernel.querysets import SiteScopedQuerySet
from pipeline.models import ImportDefinition


class CustomerIdentifier(models.TextChoices):
    EMAIL = "EMAIL"
    MOBILE = "MOBILE"
    EXTERNAL_ID = "EXTERNAL_ID"
    NOT_TAGGED = "NOT_TAGGED"


class UploadJob(models.Model):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    # The "coupon series": the caller's opportunity import definition. Null once it is deleted.
    series = models.ForeignKey(
        ImportDefinition, on_delete=models.SET_NULL, null=True, blank=True, related_name="capillary_jobs"
    )
    batch_job = models.OneToOneField(BatchJob, on_delete=models.CASCADE, related_name="capillary_job")
    customer_identifier = models.CharField(max_length=12, choices=CustomerIdentifier.choices)
    customer_column = models.CharField(max_length=1000, blank=True, default="")
    # Capillary's stored file name: `<uploaded name>_<epoch ms>_<series id>.csv`.
    file_name = models.CharField(max_length=300)
    link_definition = models.OneToOneField(
        ImportDefinition, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    link_sync = models.OneToOneField("syncs.Sync", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # Why the linkage sync could not start (a quota), when it could not.
    link_error = models.TextField(blank=True, default="")
    # Who uploaded: the linkage sync is started in their name.
    user = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["series", "-id"], name="capjob_series_id")]

    def __str__(self) -> str:
        return f"capillary upload job {self.pk}"
