"""Contacts and accounts (companies): the people and organisations opportunities belong to."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Lower, Now

from kernel.models import UUID7, Site
from kernel.querysets import SiteScopedQuerySet


class Account(models.Model):
    """A company. `external_id` is the CRM's id (Eloqua CompanyIDExt); `domain` is normalised
    (lower case, no scheme, no `www.`) so deals can be matched to it."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="accounts")
    uuid = models.UUIDField(db_default=UUID7(), unique=True, editable=False)
    name = models.CharField(max_length=255)
    domain = models.CharField(max_length=255, null=True, blank=True)
    external_id = models.CharField(max_length=255, null=True, blank=True)
    city = models.CharField(max_length=100, null=True, blank=True)
    country = models.CharField(max_length=100, null=True, blank=True)
    custom_fields = models.JSONField(default=dict, db_default=models.Value({}, models.JSONField()))
    created_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(db_default=Now())
    # The last bulk sync that wrote this row: a later row of the same sync with the same
    # identifier is a duplicate (ELQ-00026), even across chunks.
    last_sync_id = models.BigIntegerField(null=True, blank=True, editable=False)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "site",
                "external_id",
                condition=models.Q(external_id__isnull=False),
                name="account_site_external_id_unique",
            )
        ]
        indexes = [
            models.Index("site", Lower("name"), name="account_site_name_ci"),
            models.Index("site", "domain", name="account_site_domain"),
            # Imports match CompanyIDExt ignoring case by default (the unique index above is exact):
            # without this, each staged row walked the site's accounts (tests/entities/contacts/
            # test_plans.py), as opportunity_site_extid_ci prevents for opportunities.
            models.Index(
                "site",
                Lower("external_id"),
                name="account_site_extid_ci",
                condition=models.Q(external_id__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    """A person. Email addresses are unique per site, compared case-insensitively."""

    # Site lookups use the (site, ...) indexes below; a bare site index is one more write per contact.
    # site and account: no FK constraints; checked once per statement instead (migration 0005).
    site = models.ForeignKey(
        Site, on_delete=models.CASCADE, related_name="contacts", db_index=False, db_constraint=False
    )
    uuid = models.UUIDField(db_default=UUID7(), unique=True, editable=False)
    email = models.CharField(max_length=254, null=True, blank=True)
    first_name = models.CharField(max_length=100, null=True, blank=True)
    last_name = models.CharField(max_length=100, null=True, blank=True)
    phone = models.CharField(max_length=50, null=True, blank=True, help_text="E.164 when it parses.")
    company = models.CharField(max_length=255, null=True, blank=True)
    country = models.CharField(max_length=100, null=True, blank=True)
    external_id = models.CharField(max_length=255, null=True, blank=True)
    visitor_id = models.CharField(max_length=255, null=True, blank=True, help_text="Web visitor id (Ruler RaId).")
    account = models.ForeignKey(
        Account,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="contacts",
        db_index=False,
        db_constraint=False,
    )  # indexed by `contact_account`
    custom_fields = models.JSONField(default=dict, db_default=models.Value({}, models.JSONField()))
    created_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(db_default=Now())
    # The last bulk sync that wrote this row: a later row of the same sync with the same
    # identifier is a duplicate (ELQ-00026), even across chunks.
    last_sync_id = models.BigIntegerField(null=True, blank=True, editable=False)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "site", Lower("email"), condition=models.Q(email__isnull=False), name="contact_site_email_ci_unique"
            ),
            models.UniqueConstraint(
                "site",
                "external_id",
                condition=models.Q(external_id__isnull=False),
                name="contact_site_external_id_unique",
            ),
        ]
        indexes = [
            # Only where set: most contacts have no phone, visitor id or account, and every
            # lookup by one names a value.
            models.Index("site", "phone", name="contact_site_phone", condition=models.Q(phone__isnull=False)),
            models.Index(
                "site", "visitor_id", name="contact_site_visitor", condition=models.Q(visitor_id__isnull=False)
            ),
            models.Index(fields=["account"], name="contact_account", condition=models.Q(account__isnull=False)),
        ]

    def __str__(self) -> str:
        return self.email or f"contact {self.pk}"
