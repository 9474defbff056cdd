"""Writes for contacts and accounts (REST); bulk imports write through contacts/sql.py."""

from __future__ import annotations

import re

from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from entities.contacts.domains import normalise_domain
from entities.contacts.models import Account, Contact
from entities.contacts.sql import DOMAIN_RE, PHONE_RE
from kernel.exceptions import Failure, ValidationFailed
from kernel.models import Site
from pipeline.sql import EMAIL_RE

_EMAIL = re.compile(EMAIL_RE)
_PHONE = re.compile(PHONE_RE, re.IGNORECASE)
_DOMAIN = re.compile(DOMAIN_RE)

CONTACT_FIELDS = ("email", "first_name", "last_name", "phone", "company", "country", "external_id", "visitor_id")
ACCOUNT_FIELDS = ("name", "domain", "external_id", "city", "country")


def _blank_to_none(value):
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def email_clean(value: str | None) -> str | None:
    """Stripped, case kept (matching ignores case); ValidationFailed when it is not an address."""
    value = _blank_to_none(value)
    if value is not None and (len(value) > 254 or not _EMAIL.match(value)):
        raise ValidationFailed([Failure(field="email", value=value, constraint="Must be a valid e-mail address.")])
    return value


def phone_clean(value: str | None) -> str | None:
    """Stored as given (trimmed); loosely checked like the bulk import does."""
    value = _blank_to_none(value)
    if value is not None and (not _PHONE.match(value) or sum(c.isdigit() for c in value) < 3):
        raise ValidationFailed([Failure(field="phone", value=value, constraint="Must be a phone number.")])
    return value


def domain_clean(value: str | None) -> str | None:
    raw = _blank_to_none(value)
    domain = normalise_domain(raw)
    if raw is not None and (domain is None or not _DOMAIN.match(domain)):
        raise ValidationFailed([Failure(field="domain", value=raw, constraint="Must be a domain such as example.com.")])
    return domain


def _check_unique(model, site: Site, exclude_pk: int | None, field: str, wire: str, value, ci: bool = False) -> None:
    if value is None:
        return
    qs = model.objects.for_site(site)
    qs = qs.annotate(_v=Lower(field)).filter(_v=value.lower()) if ci else qs.filter(**{field: value})
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    if qs.exists():
        raise ValidationFailed([Failure(field=wire, value=value, constraint="Already used by another record.")])


def _contact_apply(contact: Contact, values: dict) -> None:
    if "email" in values:
        values["email"] = email_clean(values["email"])
    if "phone" in values:
        values["phone"] = phone_clean(values["phone"])
    for key, value in values.items():
        if key in CONTACT_FIELDS:
            value = _blank_to_none(value)
        setattr(contact, key, value)
    _check_unique(Contact, contact.site, contact.pk, "email", "email", contact.email, ci=True)
    _check_unique(Contact, contact.site, contact.pk, "external_id", "externalId", contact.external_id)


def contact_create(*, site: Site, **values) -> Contact:
    with transaction.atomic(durable=True):
        contact = Contact(site=site)
        _contact_apply(contact, values)
        contact.save()
    contact.refresh_from_db()
    return contact


def contact_update(*, contact: Contact, **values) -> Contact:
    """A partial update: only the given values change."""
    with transaction.atomic(durable=True):
        _contact_apply(contact, values)
        contact.updated_at = timezone.now()
        contact.save()
    contact.refresh_from_db()
    return contact


def contact_delete(*, contact: Contact) -> None:
    contact.delete()


def _account_apply(account: Account, values: dict) -> None:
    if "domain" in values:
        values["domain"] = domain_clean(values["domain"])
    for key, value in values.items():
        if key in ACCOUNT_FIELDS:
            value = _blank_to_none(value)
        setattr(account, key, value)
    if not account.name:
        raise ValidationFailed([Failure(field="name", constraint="Required.")])
    _check_unique(Account, account.site, account.pk, "external_id", "externalId", account.external_id)


def account_create(*, site: Site, **values) -> Account:
    with transaction.atomic(durable=True):
        account = Account(site=site)
        _account_apply(account, values)
        account.save()
    account.refresh_from_db()
    return account


def account_update(*, account: Account, **values) -> Account:
    with transaction.atomic(durable=True):
        _account_apply(account, values)
        account.updated_at = timezone.now()
        account.save()
    account.refresh_from_db()
    return account


def account_delete(*, account: Account) -> None:
    """Its contacts and opportunities stay, unlinked from it (SET NULL)."""
    account.delete()
