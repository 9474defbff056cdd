"""Reads of links: an opportunity's contacts, a contact's or an account's opportunities."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet

from entities.contacts.models import Account, Contact
from entities.opportunities.models import Opportunity
from entities.opportunities.selectors import opportunity_list
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


def contact_opportunities(*, contact: Contact) -> QuerySet[Opportunity]:
    """The opportunities linked to the contact, loaded as `/api/v1/opportunities` renders them."""
    return opportunity_list(site=contact.site_id).filter(contact_links__contact=contact).order_by("id")


def account_opportunities(*, account: Account) -> QuerySet[Opportunity]:
    """The opportunities whose company is this account (a by-account linkage sets it)."""
    return opportunity_list(site=account.site_id).filter(company=account).order_by("id")
