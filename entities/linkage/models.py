"""Links between opportunities and contacts (Eloqua opportunity-contact linkage)."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now

from kernel.models import Site
from kernel.querysets import SiteScopedQuerySet


class OpportunityContact(models.Model):
    """One link; unique per pair, so linking again is a no-op (ON CONFLICT DO NOTHING).

    No column has a database FK constraint: each one costs an RI check per inserted link (about
    4 us each; with all four the linkage sync ran at a third of its speed, bench/linkage.py).
    `site` (a copy of the opportunity's and contact's site, for tenancy filters) and `sync` (which
    sync made the link) are provenance. For `opportunity` and `contact`, integrity is kept set-based
    instead: every SQL that writes links locks the records it links FOR KEY SHARE in the same
    statement, and deleting an opportunity or contact (ORM, raw SQL, cascade) deletes its links
    through the statement-level triggers of migration 0003. Django still cascades on ORM deletes.
    Indexes: the unique (opportunity, contact) pair (which also serves lookups by opportunity) and
    one on contact; every further index is one more write per link.
    """

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False)
    opportunity = models.ForeignKey(
        "opportunities.Opportunity",
        on_delete=models.CASCADE,
        related_name="contact_links",
        db_index=False,
        db_constraint=False,
    )
    contact = models.ForeignKey(
        "contacts.Contact",
        on_delete=models.CASCADE,
        related_name="opportunity_links",
        db_index=False,
        db_constraint=False,
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
