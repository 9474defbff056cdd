"""Reads the REST views share: one site's contacts and accounts (their opportunities: entities.linkage.selectors)."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet

from entities.contacts.models import Account, Contact
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
