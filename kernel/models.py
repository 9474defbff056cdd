"""Tenancy and credentials: sites, users, API tokens, idempotency keys, currencies. (The import
pipeline's definitions and staged rows are pipeline.models, under this app's label.)"""

from __future__ import annotations

import hashlib

import phonenumbers
from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.db.models.functions import Lower

from kernel.querysets import SiteScopedQuerySet


class UUID7(models.Func):
    """A time-ordered UUID (RFC 9562 version 7: milliseconds since 1970, then random bits), made by
    `bulk_uuid7()` (migration bulkapi.0010). Records created together get neighbouring uuids, so
    the unique uuid index grows at its right edge instead of taking each new entry on a random page:
    on a large table a random page is a cache miss and, after a checkpoint, a full-page WAL image.
    The creation time (to the millisecond) can be read from the uuid."""

    template = "bulk_uuid7()"
    output_field = models.UUIDField()


def validate_phone_region(value: str) -> None:
    if value and value not in phonenumbers.SUPPORTED_REGIONS:
        raise DjangoValidationError(f"{value!r} is not a region phonenumbers knows (ISO 3166 alpha-2, upper case).")


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
    # How the batch door reads a phone number written without `+` and a country code (`01234 567890`):
    # as a national number of this region (ISO 3166 alpha-2, as phonenumbers knows them), stored in
    # E.164. GB by default: the batch door follows Ruler's document, whose template holds a UK
    # national number. Empty: such numbers are kept as sent, with no E.164 form.
    phone_region = models.CharField(
        max_length=2,
        blank=True,
        default="GB",
        validators=[validate_phone_region],
        help_text="Region (ISO 3166 alpha-2, e.g. GB, US) of phone numbers written without + and a country code. "
        "Empty: such numbers are kept as sent, not normalised.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Storage quotas (pipeline.quotas, README "Security"): empty takes the server's default, the
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


_ENTITY_CHOICES: dict[str, str] = {}


def entity_choices_register(value: str, label: str) -> None:
    """An importable entity's value and label (pipeline.catalog.register calls this), for the
    `entity` choices of definitions and custom fields: an entity added by its own package needs no
    change to any model, nor a migration."""
    _ENTITY_CHOICES[value] = label


def entity_choices() -> list[tuple[str, str]]:
    return list(_ENTITY_CHOICES.items())


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
