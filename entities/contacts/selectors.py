"""Reads the REST views share: one site's contacts, accounts and their linked opportunities."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet

from entities.contacts.models import Account, Contact
from entities.opportunities.models import Opportunity
from entities.opportunities.selectors import opportunity_list
from kernel.exceptions import NotFound
from kernel.models import Site


def contact_list(*, site: Site) -> QuerySet[Contact]:
    return Contact.objects.for_site(site).select_related("account").order_by("id")


def account_list(*, site: Site) -> QuerySet[Account]:
    return Account.objects.for_site(site).order_by("id")


def contact_get(*, site: Site, id: UUID) -> Contact:
    contact = contact_list(site=site).filter(uuid=id).first()
    if contact is None:
        raise NotFound()
    return contact


def account_get(*, site: Site, id: UUID) -> Account:
    account = account_list(site=site).filter(uuid=id).first()
    if account is None:
        raise NotFound()
    return account


def contact_opportunities(*, contact: Contact) -> QuerySet[Opportunity]:
    """The opportunities linked to the contact, loaded as `/api/v1/opportunities` renders them."""
    return opportunity_list(site=contact.site_id).filter(contact_links__contact=contact).order_by("id")


def account_opportunities(*, account: Account) -> QuerySet[Opportunity]:
    """The opportunities whose company is this account (a by-account linkage sets it)."""
    return opportunity_list(site=account.site_id).filter(company=account).order_by("id")
