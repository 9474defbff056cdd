"""Reads of links: an opportunity's contacts."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet

from entities.contacts.models import Contact
from entities.opportunities.models import Opportunity
from kernel.exceptions import NotFound
from kernel.models import Site


def opportunity_get(*, site: Site, id: UUID) -> Opportunity:
    opportunity = Opportunity.objects.for_site(site).filter(uuid=id).first()
    if opportunity is None:
        raise NotFound()
    return opportunity


def opportunity_contacts(*, opportunity: Opportunity) -> QuerySet[Contact]:
    return (
        Contact.objects.for_site(opportunity.site_id)
        .filter(opportunity_links__opportunity=opportunity)
        .select_related("account")
        .order_by("id")
    )
