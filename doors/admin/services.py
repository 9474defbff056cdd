"""Writes of the back office: the staff permission group, and admin imports (a CSV staged into an
internal draft definition, dry-run, then confirmed into a real definition and synced)."""

from __future__ import annotations

import csv

from django.contrib.auth.models import Group, Permission
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from kernel.exceptions import Conflict, Failure, PayloadTooLarge, ValidationFailed
from kernel.models import Site, User
from pipeline.definitions import definition_body, parse_duration, validate_definition
from pipeline.models import ImportDefinition, Sync
from pipeline.services import sync_snapshot
from pipeline.services.imports import import_definition_create, import_definition_delete
from pipeline.staging import staged_rows_load_csv

STAFF_GROUP = "Site staff"

# What a site's staff user needs to run the site from the admin (everything is still limited to
# their own site by the admins). Syncs: "add" starts one (an admin import), "change" cancels or
# retries one; the admin never edits a sync's row itself.
STAFF_PERMISSIONS = {
    "opportunities": {"opportunity": "vacd", "stage": "vacd", "pipeline": "vacd", "owner": "vacd", "tag": "vacd"},
    "contacts": {"account": "vacd", "contact": "vacd"},
    "bulkapi": {
        "importdefinition": "vacd",
        "customfield": "vacd",
        "stagedupload": "va",
        "apitoken": "vac",
        "user": "vac",
        "site": "v",
        "currency": "v",
    },
    "syncs": {"sync": "vac", "synclog": "v", "reject": "v"},
    "batches": {"batchjob": "v"},
    "linkage": {"opportunitycontact": "v"},
}
_ACTIONS = {"v": "view", "a": "add", "c": "change", "d": "delete"}


def staff_group_ensure() -> Group:
    """The "Site staff" group with the permissions above; idempotent, and additive (permissions a
    superuser added to the group stay)."""
    with transaction.atomic():
        group, _ = Group.objects.get_or_create(name=STAFF_GROUP)
        wanted = Q(pk__in=[])
        for app, models in STAFF_PERMISSIONS.items():
            for model, actions in models.items():
                codenames = [f"{_ACTIONS[a]}_{model}" for a in actions]
                wanted |= Q(content_type__app_label=app, content_type__model=model, codename__in=codenames)
        group.permissions.add(*Permission.objects.filter(wanted))
    return group


def staff_user_grant(*, user: User) -> None:
    """Let a site's user into the admin with the staff group's permissions."""
    group = staff_group_ensure()
    if not user.is_staff:
        User.objects.filter(pk=user.pk).update(is_staff=True)
        user.is_staff = True
    user.groups.add(group)


# --------------------------------------------------------------------------------- admin imports

DRAFT_PREFIX = "Admin import draft"
# An unconfirmed import's draft (and its staged rows) is deleted by the retention task after this.
DRAFT_LIFETIME = "P1D"


def import_draft_create(*, site: Site, user: User, entity: str, keys: list[str] | None, upload) -> ImportDefinition:
    """Stage an uploaded CSV into a new internal draft definition: in PostgreSQL, so whichever API
    node serves the dry run and the confirmation reads the same rows, streamed through COPY with
    bounded memory (`staged_rows_load_csv`). `keys`: the columns to keep (an existing definition's
    keys); None keeps every column of the header (a new definition, mapped later). The draft is
    internal (never listed by the Bulk API) and expires after DRAFT_LIFETIME."""
    if keys is None:
        keys = csv_header(upload)
        if not keys:
            raise ValidationFailed([Failure(field="file", constraint="The CSV must start with a header row.")])
    name = f"{DRAFT_PREFIX}: {getattr(upload, 'name', '') or 'upload'}"[:100]
    draft = ImportDefinition(
        site=site,
        entity=entity,
        name=name,
        fields=[[k, ""] for k in dict.fromkeys(keys)],
        is_internal=True,
        auto_delete_duration=DRAFT_LIFETIME,
        created_by=user.username,
        updated_by=user.username,
    )
    draft.auto_delete_at = timezone.now() + parse_duration(DRAFT_LIFETIME)
    draft.save()
    upload.seek(0)
    try:
        staged_rows_load_csv(definition=draft, stream=upload, content_length=upload.size)
    except (ValidationFailed, PayloadTooLarge):
        import_definition_delete(definition=draft)
        raise
    return draft


def csv_header(upload) -> list[str]:
    """The column names of an uploaded CSV's first line (BOM and CR removed)."""
    upload.seek(0)
    line = upload.readline(1024 * 1024)
    try:
        text = line.decode("utf-8").removeprefix("\ufeff").rstrip("\r\n")
    except UnicodeDecodeError:
        raise ValidationFailed([Failure(field="file", constraint="The CSV must be UTF-8 encoded.")]) from None
    header = next(csv.reader([text]), [])
    return [h for h in header if h.strip()]


def import_draft_confirm(
    *, draft: ImportDefinition, user: User, definition: ImportDefinition | None = None, body: dict | None = None
) -> Sync:
    """Hand the draft's staged rows to `definition` (or to a new definition made from `body`, exactly
    as `POST .../imports` would) and start its sync, in one transaction: either the sync exists with
    the rows, or nothing changed and the draft is still there. The sync takes every row staged for
    the definition, as a `POST /syncs` would. Conflict (409) while a sync of it is pending or active,
    or when the draft is gone (confirmed already, discarded or expired)."""
    try:
        with transaction.atomic(durable=True):
            with connection.cursor() as cur:
                cur.execute("SELECT 1 FROM bulkapi_importdefinition WHERE id = %s FOR UPDATE", [draft.pk])
                if cur.fetchone() is None:
                    raise Conflict(
                        [Failure(field="draft", constraint="This import was confirmed, discarded or has expired.")]
                    )
            if definition is None:
                definition = import_definition_create(site=draft.site, user=user, entity=draft.entity, body=body)
            validate_definition(site=definition.site, entity=definition.entity, body=definition_body(definition))
            with connection.cursor() as cur:
                cur.execute(
                    "UPDATE bulkapi_stagedrow SET definition_id = %s WHERE definition_id = %s",
                    [definition.pk, draft.pk],
                )
                cur.execute(
                    "UPDATE bulkapi_stagedupload SET definition_id = %s WHERE definition_id = %s",
                    [definition.pk, draft.pk],
                )
            sync = sync_snapshot(definition=definition, user=user)
            ImportDefinition.objects.filter(pk=draft.pk).delete()
    except IntegrityError:
        raise Conflict(
            [
                Failure(
                    field="syncedInstanceUri",
                    value=definition.uri if definition is not None and definition.pk else None,
                    constraint="A sync of this import is already pending or active; confirm again when it has ended.",
                )
            ]
        ) from None
    return sync


def import_draft_discard(*, draft: ImportDefinition) -> None:
    """Drop the draft and its staged rows."""
    import_definition_delete(definition=draft)
