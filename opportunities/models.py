"""Opportunities and the site's own stage list."""

from __future__ import annotations

from django.contrib.postgres.functions import RandomUUID
from django.db import models
from django.db.models.functions import Lower, Now

from bulkapi.models import Site
from bulkapi.querysets import SiteScopedQuerySet


class StageStatus(models.TextChoices):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


class Stage(models.Model):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=100)
    probability = models.DecimalField(max_digits=5, decimal_places=4, default=0)
    status = models.CharField(max_length=4, choices=StageStatus.choices, default=StageStatus.OPEN)
    sort_order = models.PositiveIntegerField(default=0)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["sort_order", "id"]
        constraints = [models.UniqueConstraint("site", Lower("name"), name="stage_site_name_ci_unique")]

    def __str__(self) -> str:
        return self.name


class Opportunity(models.Model):
    """One deal. `external_id` is the id it arrived with (Eloqua's {{Opportunity.Id}})."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="opportunities")
    uuid = models.UUIDField(db_default=RandomUUID(), unique=True, editable=False)
    external_id = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    account_name = models.CharField(max_length=255, null=True, blank=True)
    amount = models.DecimalField(max_digits=20, decimal_places=4, null=True, blank=True)
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="opportunities")
    close_date = models.DateField(null=True, blank=True)
    forecast_to_close_date = models.DateField(null=True, blank=True)
    currency = models.CharField(max_length=3, null=True, blank=True)
    territory = models.CharField(max_length=255, null=True, blank=True)
    owner_name = models.CharField(max_length=255, null=True, blank=True)
    primary_campaign_id = models.CharField(max_length=255, null=True, blank=True)
    custom_fields = models.JSONField(default=dict, db_default=models.Value({}, models.JSONField()))
    created_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(db_default=Now())
    # The last bulk sync that wrote this row: a later row of the same sync with the same
    # identifier is a duplicate (ELQ-00026), even across chunks.
    last_sync_id = models.BigIntegerField(null=True, blank=True, editable=False)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "opportunities"
        constraints = [models.UniqueConstraint("site", "external_id", name="opportunity_site_external_id_unique")]
        indexes = [models.Index("site", Lower("external_id"), name="opportunity_site_extid_ci")]

    def __str__(self) -> str:
        return f"{self.external_id}: {self.name}"
