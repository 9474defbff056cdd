"""Writes for sites, users, tokens and import definitions."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
)

from kernel.exceptions import Conflict, Failure
from kernel.models import ApiToken, ImportDefinition, Site, StagedRow, StagedUpload, User, hash_token
from pipeline.definitions import render_definition, validate_definition
from pipeline.staging import staged_rows_load_csv, staged_rows_load_json


def site_create(*, name: str) -> tuple[Site, bool]:
    """The site named `name` (any letter case), created with its default stage list if new."""
    from entities.opportunities.services import stages_create_defaults

    with transaction.atomic():
        site = Site.objects.annotate(lname=Lower("name")).filter(lname=name.lower()).first()
        if site is not None:
            return site, False
        site = Site.objects.create(name=name)
        stages_create_defaults(site=site)
        return site, True


def user_get(*, site: Site, username: str) -> User | None:
    """The site's user of that name (any letter case), or None."""
    return User.objects.annotate(lname=Lower("username")).filter(site=site, lname=username.lower()).first()


def user_set(*, site: Site, username: str, password: str, **extra) -> tuple[User, str]:
    """Create the user or give it `password`; returns (user, "created" / "password changed" /
    "password unchanged"). Idempotent: the password the user already has is left as it is (no new
    hash, so its OAuth tokens live on: `docker compose up` runs this every time)."""
    user = user_get(site=site, username=username)
    user_was = "password unchanged"
    if user is None:
        user, user_was = User(site=site, username=username, **extra), "created"
        user.set_password(password)
    user.is_active = True
    if user_was == "created" or user.check_password(password):
        user.save()
    else:
        user_password_change(user=user, password=password)
        user_was = "password changed"
    return user, user_was


def user_password_change(*, user: User, password: str | None) -> User:
    """Give `user` a new password (None: none, password login disabled) and end what the old one
    let anyone obtain: every OAuth access and refresh token issued to the user. API tokens stay:
    each was made on purpose for an integration, is listed and revoked one by one in the admin.

    Every way a password changes goes through here (the admin's two password forms, `createsite`,
    `changepassword`). Not through `User.set_password`: Django calls that too when it re-hashes a
    password at login with a newer hasher, which is no password change."""
    with transaction.atomic(savepoint=False):
        if password is None:
            user.set_unusable_password()
        else:
            user.set_password(password)
        user.save()
        oauth_tokens_revoke(user=user)
    return user


def oauth_tokens_revoke(*, user: User) -> None:
    """End every OAuth grant of `user`: refresh tokens are marked revoked (a replay is refused
    as `invalid_grant`), access tokens, authorization codes and ID tokens are deleted."""
    now = timezone.now()
    with transaction.atomic(savepoint=False):
        get_refresh_token_model().objects.filter(user=user, revoked__isnull=True).update(
            revoked=now, updated=now, access_token=None
        )
        get_access_token_model().objects.filter(user=user).delete()
        get_grant_model().objects.filter(user=user).delete()
        get_id_token_model().objects.filter(user=user).delete()


def api_token_may_manage(*, actor: User, owner_id: int) -> bool:
    """Tokens are credentials: a superuser issues, sees and revokes anyone's, every other user only
    their own. A staff user's token for a colleague (another staff user included) would let them
    act as that colleague."""
    return actor.is_superuser or actor.pk == owner_id


def _check_token_owner(by: User | None, owner_id: int) -> None:
    if by is not None and not api_token_may_manage(actor=by, owner_id=owner_id):
        raise PermissionDenied("Only a superuser, or the user themself, manages a user's API tokens.")


def api_token_create(
    *, user: User, raw: str | None = None, name: str = "", by: User | None = None, revive: bool = True
) -> tuple[ApiToken, str, bool]:
    """Issue a token (or register exactly `raw`); returns (token, raw value, created). `by`: who
    asks for it (the admin's user), None for an operator's command (`createsite --token`).

    Registering a revoked token's value again makes it valid again, unless `revive` is false: a
    bootstrap that runs on every start must never undo a revocation."""
    _check_token_owner(by, user.pk)
    raw = raw or secrets.token_urlsafe(32)
    token = ApiToken.objects.filter(key_hash=hash_token(raw)).first()
    if token is not None:
        if token.user_id != user.pk:
            raise ValueError("That token already belongs to another user.")
        if token.revoked_at is not None and revive:
            ApiToken.objects.filter(pk=token.pk).update(revoked_at=None)
            token.revoked_at = None
        return token, raw, False
    token = ApiToken.objects.create(user=user, name=name, prefix=raw[:8], key_hash=hash_token(raw))
    return token, raw, True


def api_token_revoke(*, token: ApiToken, by: User | None = None) -> None:
    _check_token_owner(by, token.user_id)
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def _apply(definition: ImportDefinition, values: dict) -> None:
    delta = values.pop("_auto_delete_delta", None)
    for key, value in values.items():
        setattr(definition, key, value)
    base = definition.created_at or timezone.now()
    definition.auto_delete_at = base + delta if delta else None


def import_definition_create(*, site: Site, user: User, entity: str, body: object) -> ImportDefinition:
    values = validate_definition(site=site, entity=entity, body=body)
    definition = ImportDefinition(site=site, entity=entity, created_by=user.username, updated_by=user.username)
    _apply(definition, values)
    definition.save()
    # One instant for both audit stamps of a new definition, as Eloqua answers.
    ImportDefinition.objects.filter(pk=definition.pk).update(updated_at=definition.created_at)
    definition.updated_at = definition.created_at
    return definition


def import_definition_update(*, definition: ImportDefinition, user: User, body: object) -> ImportDefinition:
    """PUT: a full replacement of the writable properties; refused (409) while one of its syncs is
    pending or active (its chunks read the definition's fields, identifier and rules as they are
    now: a change mid-sync would move rows between lanes, or judge them by other rules)."""
    values = validate_definition(site=definition.site, entity=definition.entity, body=body)
    with transaction.atomic():
        _lock_without_running_sync(definition)
        _apply(definition, values)
        definition.updated_by = user.username
        definition.save()
    return definition


def definition_has_running_sync(definition: ImportDefinition) -> bool:
    from pipeline.models import Sync, SyncStatus

    return Sync.objects.filter(definition=definition, status__in=[SyncStatus.PENDING, SyncStatus.ACTIVE]).exists()


RUNNING_SYNC = "A sync of this import is pending or active."


def _lock_without_running_sync(definition: ImportDefinition) -> None:
    """Lock the definition as a sync's snapshot does (FOR UPDATE), then Conflict if one of its
    syncs is pending or active."""
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM bulkapi_importdefinition WHERE id = %s FOR UPDATE", [definition.pk])
    if definition_has_running_sync(definition):
        raise Conflict([Failure(field="syncs", constraint=RUNNING_SYNC)])


def import_definition_delete(*, definition: ImportDefinition) -> None:
    """Delete with its staged rows; refused (409) while one of its syncs is pending or active."""
    with transaction.atomic(durable=True):
        _lock_without_running_sync(definition)
        StagedRow.objects.filter(definition=definition).delete()
        definition.delete()


def imports_purge_expired() -> dict[str, int]:
    """Retention: staged rows past their definition's dataRetentionDuration, definitions past
    autoDeleteDuration. Rows a sync has claimed (pending/active) are left alone."""
    from pipeline.models import SyncStatus

    now = timezone.now()
    with transaction.atomic(durable=True), connection.cursor() as cur:
        # First the definitions, FOR SHARE, as an upload holds them: a sync's snapshot (FOR UPDATE)
        # cannot claim their uploads until this commits, and the next statement sees every claim
        # committed before (a claim made between one statement's read and its delete was lost).
        # Definitions being snapshotted right now are skipped, till the next purge.
        cur.execute(
            "SELECT d.id FROM bulkapi_importdefinition d WHERE EXISTS (SELECT 1 FROM bulkapi_stagedupload u"
            " WHERE u.definition_id = d.id AND u.created_at < %s - make_interval(secs => d.data_retention_seconds))"
            " ORDER BY d.id FOR SHARE SKIP LOCKED",
            [now],
        )
        locked = [row[0] for row in cur.fetchall()]
        cur.execute(
            """
            WITH expired AS (
              SELECT u.id, u.definition_id FROM bulkapi_stagedupload u
              JOIN bulkapi_importdefinition d ON d.id = u.definition_id
              LEFT JOIN syncs_sync s ON s.id = u.sync_id
              WHERE d.id = ANY(%s) AND u.created_at < %s - make_interval(secs => d.data_retention_seconds)
                AND (s.id IS NULL OR s.status NOT IN (%s, %s))
            ), gone AS (
              DELETE FROM bulkapi_stagedrow r USING expired e
              WHERE r.definition_id = e.definition_id AND r.upload_id = e.id RETURNING 1
            ), dropped AS (
              DELETE FROM bulkapi_stagedupload u USING expired e WHERE u.id = e.id AND u.sync_id IS NULL
            )
            SELECT count(*) FROM gone
            """,
            [locked, now, SyncStatus.PENDING, SyncStatus.ACTIVE],
        )
        rows = cur.fetchone()[0]
    definitions = 0
    for definition in ImportDefinition.objects.filter(auto_delete_at__lte=now).exclude(
        Q(syncs__status=SyncStatus.PENDING) | Q(syncs__status=SyncStatus.ACTIVE)
    ):
        try:
            import_definition_delete(definition=definition)
            definitions += 1
        except Conflict:
            continue
    from kernel.idempotency import keys_purge_expired

    return {"staged_rows": rows, "definitions": definitions, "idempotency_keys": keys_purge_expired()}


CSV_TYPES = ("text/csv", "application/csv", "text/plain")
JSON_TYPES = ("application/json", "", "text/json")


@dataclass
class UploadOutcome:
    """What a data upload did: the staged upload, and the sync it triggered (or why it could not)."""

    upload: StagedUpload | None = None
    sync: object | None = None  # pipeline.models.Sync
    conflict: Conflict | None = None


def import_data_load(
    *,
    definition: ImportDefinition,
    user: User,
    stream,
    content_type: str,
    content_length: int | None,
    before_commit: Callable[[UploadOutcome], None] | None = None,
) -> UploadOutcome:
    """Stage an upload (CSV or JSON by `content_type`, one of CSV_TYPES/JSON_TYPES) and, when the
    definition syncs on import, make its sync in the same transaction: the rows, the sync and
    `before_commit(outcome)` (the request's idempotency record) commit together. A sync already
    running leaves the rows staged and the outcome's `conflict` set (a 409, as `POST /syncs`)."""
    from pipeline.services import running_conflict, sync_snapshot

    if definition.is_sync_triggered_on_import:  # validated again when syncing (Eloqua 20D), before staging
        validate_definition(site=definition.site, entity=definition.entity, body=render_definition(definition))
    outcome = UploadOutcome()

    def at_commit(upload: StagedUpload) -> None:
        outcome.upload = upload
        if definition.is_sync_triggered_on_import:
            try:
                with transaction.atomic():
                    outcome.sync = sync_snapshot(definition=definition, user=user)
            except IntegrityError:
                outcome.conflict = running_conflict(definition)
        if before_commit is not None:
            before_commit(outcome)

    load = staged_rows_load_csv if content_type in CSV_TYPES else staged_rows_load_json
    load(definition=definition, stream=stream, content_length=content_length, before_commit=at_commit)
    return outcome
