"""Tenancy, credentials and the shared import pipeline's tables (definitions, staged rows)."""

from __future__ import annotations

import hashlib

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Lower

from .querysets import SiteScopedQuerySet


class UUID7(models.Func):
    """A time-ordered UUID (RFC 9562 version 7: milliseconds since 1970, then random bits), made by
    `bulk_uuid7()` (migration bulkapi.0010). Records created together get neighbouring uuids, so
    the unique uuid index grows at its right edge instead of taking each new entry on a random page:
    on a large table a random page is a cache miss and, after a checkpoint, a full-page WAL image.
    The creation time (to the millisecond) can be read from the uuid."""

    template = "bulk_uuid7()"
    output_field = models.UUIDField()


class Site(models.Model):
    """What Eloqua calls a company: it owns every record."""

    name = models.CharField(max_length=100)
    default_currency = models.CharField(max_length=3, default="USD")
    # The stage an opportunity gets when it names none (REST, deals): the site's choice, set when the
    # site is made and changed only by its admins (admin, `isDefault` on /api/v1/stages), never by an
    # import. Null: such opportunities are refused until one is chosen.
    default_stage = models.ForeignKey(
        "opportunities.Stage", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Storage quotas (bulkapi.quotas, README "Security"): empty takes the server's default, the
    # SITE_QUOTA_* setting of the same name; 0 is no limit. Only superusers change them.
    quota_staged_rows = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Rows staged and not yet synced. Empty: SITE_QUOTA_STAGED_ROWS; 0: no limit."
    )
    quota_staged_bytes = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="Bytes of the uploads those rows came in, as sent. Empty: SITE_QUOTA_STAGED_BYTES; 0: no limit.",
    )
    quota_batch_file_bytes = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="Bytes of the batch upload files kept with their jobs. Empty: SITE_QUOTA_BATCH_FILE_BYTES; 0: no limit.",
    )
    quota_rejects = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="Rejected rows kept with the syncs; checked when an upload or a sync starts. "
        "Empty: SITE_QUOTA_REJECTS; 0: no limit.",
    )

    class Meta:
        constraints = [models.UniqueConstraint(Lower("name"), name="site_name_ci_unique")]

    def __str__(self) -> str:
        return self.name


class SiteUserManager(UserManager.from_queryset(SiteScopedQuerySet)):
    pass


class User(AbstractUser):
    """A user of one site. Usernames are unique within a site (Eloqua logs in as Site\\User)."""

    username = models.CharField(max_length=150)
    site = models.ForeignKey(Site, on_delete=models.CASCADE, null=True, blank=True, related_name="users")

    objects = SiteUserManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("username"), "site", name="user_site_username_ci_unique"),
            models.UniqueConstraint(
                Lower("username"),
                condition=models.Q(site__isnull=True),
                name="user_nosite_username_ci_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.site.name}\\{self.username}" if self.site_id else self.username


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A per-user API key, usable as `Bearer` or `X-Api-Key`. Only its SHA-256 is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True, default="")
    prefix = models.CharField(max_length=8, help_text="First characters, to recognise a token.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = SiteScopedQuerySet.as_manager()
    site_path = "user__site"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"


class Currency(models.Model):
    """ISO 4217 codes, loaded from pycountry so set-based SQL can check them by join."""

    code = models.CharField(max_length=3, primary_key=True)
    name = models.CharField(max_length=100)

    class Meta:
        verbose_name_plural = "currencies"

    def __str__(self) -> str:
        return self.code


class Entity(models.TextChoices):
    OPPORTUNITY = "opportunity", "Opportunity"
    CONTACT = "contact", "Contact"
    ACCOUNT = "account", "Account"
    OPPORTUNITY_LINK = "opportunity_link", "Opportunity linkage"
    OPPORTUNITY_BATCH = "opportunity_batch", "Opportunity batch upload"


class DataType(models.TextChoices):
    STRING = "string"
    NUMBER = "number"
    DATE = "date"
    BOOLEAN = "boolean"
    EMAIL = "emailAddress"
    LARGE_TEXT = "largeText"


class CustomField(models.Model):
    """A site's own field on an entity; imported like a standard one into `custom_fields`."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="custom_fields")
    entity = models.CharField(max_length=20, choices=Entity.choices)
    name = models.CharField(max_length=100)
    internal_name = models.CharField(max_length=100)
    data_type = models.CharField(max_length=20, choices=DataType.choices, default=DataType.STRING)
    max_length = models.PositiveIntegerField(default=1000)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint("site", "entity", Lower("internal_name"), name="customfield_internal_name_unique")
        ]

    def __str__(self) -> str:
        return f"{self.entity}.{self.internal_name}"


class UpdateRule(models.TextChoices):
    ALWAYS = "always"
    IF_NEW_IS_NOT_NULL = "ifNewIsNotNull"
    IF_EXISTING_IS_NULL = "ifExistingIsNull"
    USE_FIELD_RULE = "useFieldRule"


class ImportRule(models.TextChoices):
    CREATE_AND_UPDATE = "createAndUpdate"
    UPDATE_ONLY = "updateOnly"
    CREATE_ONLY = "createOnly"


class ImportDefinition(models.Model):
    """An Eloqua import definition. Nullable columns are 'unset' and omitted on the wire."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="import_definitions")
    entity = models.CharField(max_length=20, choices=Entity.choices)
    name = models.CharField(max_length=100)
    # [[key, statement], ...]: a list, because jsonb objects do not keep key order.
    fields = models.JSONField()
    identifier_field_name = models.CharField(max_length=100, null=True, blank=True)
    is_identifier_field_case_sensitive = models.BooleanField(default=False)
    update_rule = models.CharField(max_length=20, choices=UpdateRule.choices, null=True, blank=True)
    update_rule_by_field = models.JSONField(null=True, blank=True)
    import_rule = models.CharField(max_length=20, choices=ImportRule.choices, null=True, blank=True)
    is_sync_triggered_on_import = models.BooleanField(default=False)
    is_updating_multiple_matched_records = models.BooleanField(null=True, blank=True)
    null_identifier_field_name = models.BooleanField(null=True, blank=True)
    data_retention_duration = models.CharField(max_length=40, default="P7D")
    data_retention_seconds = models.PositiveIntegerField(default=7 * 86400)
    auto_delete_duration = models.CharField(max_length=40, null=True, blank=True)
    auto_delete_at = models.DateTimeField(null=True, blank=True, db_index=True)
    import_priority_uri = models.CharField(max_length=200, null=True, blank=True)
    external_system_id = models.BigIntegerField(null=True, blank=True)
    link_entity_type = models.CharField(max_length=10, null=True, blank=True)
    link_match_field_name = models.CharField(max_length=100, null=True, blank=True)
    link_source_field = models.CharField(max_length=100, null=True, blank=True)
    link_case_sensitive_match_field = models.BooleanField(default=False)
    link_case_sensitive_source_field = models.BooleanField(default=False)
    link_multiple_source_matches = models.BooleanField(default=False)
    # Made by another door (batch upload) to run on this pipeline; hidden from Bulk API lists.
    is_internal = models.BooleanField(default=False)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_by = models.CharField(max_length=150)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["site", "entity", "id"])]

    def __str__(self) -> str:
        return f"{self.entity} import {self.pk}: {self.name}"

    @property
    def field_map(self) -> dict[str, str]:
        return dict(self.fields)

    @property
    def uri(self) -> str:
        from .definitions import definition_uri

        return definition_uri(self)


class StagedUpload(models.Model):
    """One POST of data: what its columns were, for the sync's ELQ-00111/00121 logs."""

    definition = models.ForeignKey(ImportDefinition, on_delete=models.CASCADE, related_name="uploads")
    sync = models.ForeignKey("syncs.Sync", on_delete=models.SET_NULL, null=True, blank=True)
    content_type = models.CharField(max_length=20)
    columns = models.JSONField(default=list)
    row_count = models.BigIntegerField(default=0)
    byte_count = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    site_path = "definition__site"

    def __str__(self) -> str:
        return f"upload {self.pk} of definition {self.definition_id}"


class StagedRow(models.Model):
    """A row waiting for a sync: the definition keys it carried, as strings (or null)."""

    # No database foreign keys: they would cost two checks per staged row at commit (a third of a
    # CSV upload's time) to guard what locks already guarantee. An upload holds its definition FOR
    # SHARE; deleting a definition (FOR UPDATE) or purging an upload deletes their rows with them.
    definition = models.ForeignKey(
        ImportDefinition, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False, db_index=False
    )
    upload = models.ForeignKey(
        StagedUpload, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False, db_index=False
    )
    data = models.JSONField()

    # The table's primary key is (definition_id, id) (migration 0008), its only index: readers find
    # staged rows by definition and id range, so join on both. `id` comes from a sequence, unique.

    def __str__(self) -> str:
        return f"staged row {self.pk} of definition {self.definition_id}"


class IdempotencyKey(models.Model):
    """The stored answer to a request sent with an `Idempotency-Key` header (Stripe's semantics, and
    the IETF httpapi idempotency-key draft's): the same key and the same request within
    `IDEMPOTENCY_KEY_SECONDS` replay it without doing the work again. Written in the transaction
    that does the work, so the work and its record commit together, or neither does."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # SHA-256 of the method, the path, the content type and the body: another request under the
    # same key is refused (422), never answered with this one's result.
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint("site", "user", "key", name="idempotency_key_unique")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status_code})"


class IdempotencyClaim(models.Model):
    """A request in flight under an `Idempotency-Key`: another request under the key meanwhile is a
    409. A row, committed before the work starts and deleted when it ends, rather than a session
    advisory lock, which a transaction-mode pooler (PgBouncer) cannot keep across transactions; a
    claim whose process died gives way at `expires_at` (IDEMPOTENCY_CLAIM_SECONDS), never later."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # Which request holds it: only that request deletes it.
    holder = models.UUIDField()
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint("site", "user", "key", name="idempotency_claim_unique")]

    def __str__(self) -> str:
        return f"{self.key} (until {self.expires_at:%Y-%m-%d %H:%M:%S})"
