"""Links between opportunities and contacts (Eloqua opportunity-contact linkage)."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now

from bulkapi.models import Site
from bulkapi.querysets import SiteScopedQuerySet


class OpportunityContact(models.Model):
    """One link; unique per pair, so linking again is a no-op (ON CONFLICT DO NOTHING).

    `site` (a copy of the opportunity's and contact's site, for tenancy filters) and `sync` (which
    sync made the link) have no database constraint: each checked FK costs a deferred trigger per
    inserted link at commit, and these two halved the linkage sync's speed (bench/linkage.py).
    Integrity rests on the opportunity and contact FKs; Django still cascades/nulls on delete.
    Indexes: the unique (opportunity, contact) pair (which also serves lookups by opportunity) and
    one on contact; every further index is one more write per link.
    """

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False)
    opportunity = models.ForeignKey(
        "opportunities.Opportunity", on_delete=models.CASCADE, related_name="contact_links", db_index=False
    )
    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.CASCADE, related_name="opportunity_links", db_index=False
    )
    created_at = models.DateTimeField(db_default=Now())
    sync = models.ForeignKey(
        "syncs.Sync",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint("opportunity", "contact", name="opportunity_contact_unique")]
        indexes = [models.Index(fields=["contact"], name="oppcontact_contact")]

    def __str__(self) -> str:
        return f"{self.opportunity_id} <-> {self.contact_id}"
