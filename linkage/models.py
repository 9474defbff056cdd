"""Links between opportunities and contacts (Eloqua opportunity-contact linkage)."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now

from bulkapi.models import Site
from bulkapi.querysets import SiteScopedQuerySet


class OpportunityContact(models.Model):
    """One link; unique per pair, so linking again is a no-op (ON CONFLICT DO NOTHING)."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    opportunity = models.ForeignKey("opportunities.Opportunity", on_delete=models.CASCADE, related_name="contact_links")
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="opportunity_links")
    created_at = models.DateTimeField(db_default=Now())
    sync = models.ForeignKey("syncs.Sync", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint("opportunity", "contact", name="opportunity_contact_unique")]
        indexes = [models.Index(fields=["contact"], name="oppcontact_contact")]

    def __str__(self) -> str:
        return f"{self.opportunity_id} <-> {self.contact_id}"
