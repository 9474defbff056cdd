"""Making a sync: validate the definition again, snapshot its staged rows, cut them into ranges and
lanes, and enqueue lane 0 once the snapshot commits."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from kernel.exceptions import Conflict, Failure, ValidationFailed
from kernel.models import Site, User
from pipeline.callbacks import resolve
from pipeline.catalog import mappings_for
from pipeline.definitions import definition_body, parse_definition_uri, validate_definition
from pipeline.faults import BROKER_ERRORS
from pipeline.models import ImportDefinition, StagedUpload, Sync, SyncLane
from pipeline.processors import lane_bounds_sample, lane_key_for
from pipeline.quotas import SYNC, quota_room

logger = logging.getLogger(__name__)


def _is_public_host(host: str) -> bool:
    """Checked when a sync is made; `pipeline.callbacks` checks again, and connects to what it checked,
    when the callback is sent."""
    try:
        addresses = resolve(host)
    except (OSError, UnicodeError):
        return False
    return all(address.is_global for address in addresses)


def callback_url_check(url: str, *, look_up: bool = True) -> str | None:
    """Why `url` may not be called back, or None when it may (`look_up=False`: its form only)."""
    if len(url) > 2000:  # the column's width
        return "At most 2000 characters."
    try:
        parts = urlsplit(url)
        parts.hostname  # noqa: B018 - raises ValueError for a malformed host ("http://[::1")
    except ValueError:
        return "Must be an absolute http(s) URL."
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "Must be an absolute http(s) URL."
    if look_up and not settings.CALLBACK_ALLOW_PRIVATE and not _is_public_host(parts.hostname):
        return "Must not point at a private, loopback or unresolvable address."
    return None


def _definition_for_uri(site: Site, uri: object) -> ImportDefinition:
    parsed = parse_definition_uri(uri) if isinstance(uri, str) else None
    definition = None
    if parsed:
        definition = ImportDefinition.objects.for_site(site).filter(entity=parsed[0], pk=parsed[1]).first()
    if definition is None:
        raise ValidationFailed(
            [Failure(field="syncedInstanceUri", value=uri, constraint="Must reference an existing import definition.")]
        )
    return definition


def sync_create(*, site: Site, user: User, body: object, before_commit: Callable[[Sync], None] | None = None) -> Sync:
    """`POST /syncs`: check the body, then `sync_start`."""
    if not isinstance(body, dict):
        raise ValidationFailed([Failure(field="body", constraint="Must be a JSON object.")])
    definition = _definition_for_uri(site, body.get("syncedInstanceUri"))
    callback = body.get("callbackUrl")
    if callback is not None:
        reason = callback_url_check(callback) if isinstance(callback, str) else "Must be a string."
        if reason:
            raise ValidationFailed([Failure(field="callbackUrl", value=callback, constraint=reason)])
    return sync_start(definition=definition, user=user, callback_url=callback, before_commit=before_commit)


def running_conflict(definition: ImportDefinition) -> Conflict:
    return Conflict(
        [
            Failure(
                field="syncedInstanceUri",
                value=definition.uri,
                constraint="A sync of this import is already pending or active.",
            )
        ]
    )


def sync_start(
    *,
    definition: ImportDefinition,
    user: User,
    callback_url: str | None = None,
    before_commit: Callable[[Sync], None] | None = None,
) -> Sync:
    """Validate the definition again (Eloqua 20D), snapshot its staged rows, enqueue the run.

    `before_commit(sync)` runs inside the transaction that makes the sync (the idempotency record of
    the request that asked for it commits with the sync, or neither does)."""
    validate_definition(site=definition.site, entity=definition.entity, body=definition_body(definition))
    try:
        with transaction.atomic(durable=True):
            sync = sync_snapshot(definition=definition, user=user, callback_url=callback_url)
            if before_commit is not None:
                before_commit(sync)
            return sync
    except IntegrityError:
        raise running_conflict(definition) from None


def sync_snapshot(*, definition: ImportDefinition, user: User, callback_url: str | None = None) -> Sync:
    """The sync row for the definition's staged rows, inside the caller's transaction (another door
    can so commit its own rows and the sync together); its lanes are enqueued when that commits.
    QuotaExceeded (507) when the site's rejects are at their quota: checked here, as a sync starts,
    never while it runs (README "Security")."""
    quota_room(site=definition.site, quotas=SYNC)
    with transaction.atomic(savepoint=False):
        with connection.cursor() as cur:
            # Waits for uploads in flight (they hold FOR SHARE), so the snapshot is exact.
            cur.execute("SELECT 1 FROM bulkapi_importdefinition WHERE id = %s FOR UPDATE", [definition.pk])
            lane_key = lane_key_for(definition.entity, definition, mappings_for(definition))
            lanes = max(1, settings.BULK_SYNC_LANES) if lane_key is not None else 1
            range_rows = max(1, settings.BULK_SYNC_CHUNK_ROWS) * lanes
            # A laned sync's first range is short: lane 0 runs it alone (see `sync_run_chunk`).
            head = min(range_rows, max(1, settings.BULK_SYNC_FIRST_RANGE_ROWS)) if lanes > 1 else range_rows
            # The head-th staged id ends range 0, every range_rows-th one after it ends a range, and
            # the last staged id ends the last one. (One streaming pass: a `count(*) OVER ()` would
            # hold every id, and took twice as long.)
            cur.execute(
                """
                SELECT array_agg(id ORDER BY id) FILTER (WHERE n = %s OR (n > %s AND (n - %s) %% %s = 0)),
                       count(*), max(id), min(id)
                FROM (
                  SELECT id, row_number() OVER (ORDER BY id) AS n FROM bulkapi_stagedrow WHERE definition_id = %s
                ) q
                """,
                [head, head, head, range_rows, definition.pk],
            )
            ends, total, last, first = cur.fetchone()
            ends = ends or []
            if total and (not ends or ends[-1] != last):
                ends.append(last)
            bounds = None
            if lanes > 1 and total:
                bounds = lane_bounds_sample(
                    cur.cursor, definition_id=definition.pk, first=first, last=last, lane_key=lane_key, lanes=lanes
                )
        sync = Sync.objects.create(
            site=definition.site,
            definition=definition,
            synced_instance_uri=definition.uri,
            callback_url=callback_url,
            created_by=user.username,
            upto_id=ends[-1] if ends else 0,
            total_rows=total or 0,
            range_ends=ends or [],
            range_rows=range_rows,
            first_range_rows=head,
            lanes=lanes,
            lane_bounds=bounds,
            dense=bool(total) and last - first + 1 == total,
        )
        now = timezone.now()
        SyncLane.objects.bulk_create(SyncLane(sync=sync, lane=lane, heartbeat_at=now) for lane in range(lanes))
        StagedUpload.objects.filter(definition=definition, sync__isnull=True).update(sync=sync)
        enqueue_run(sync.pk, [0], at_range=0)  # the other lanes once lane 0 is through range 0
    return sync


def enqueue_run(sync_id: int, lanes: Iterable[int], at_range: int | None) -> None:
    """Enqueue the chunk of each of `lanes` that starts at range `at_range`, once the caller's
    transaction commits. A message for a range its lane has already passed does nothing, so a
    duplicate (beat's resume, an operator's requeue, a redelivery) is harmless."""
    lanes = list(lanes)
    transaction.on_commit(lambda: publish_run(sync_id, lanes, at_range))


def publish_run(sync_id: int, lanes: Iterable[int], at_range: int | None) -> bool:
    """Send the lanes' next chunk messages now; False (logged) when the broker cannot take them.

    What is committed is safe either way: a lane whose message could not be sent is resumed by beat
    (`syncs_requeue`) once the broker is back, so a broker outage pauses a sync, never fails it or
    the request that started it."""
    from pipeline.tasks import sync_run as sync_run_task

    try:
        for lane in lanes:
            sync_run_task.apply_async((sync_id, lane, at_range), retry=True, retry_policy=PUBLISH_RETRY)
    except BROKER_ERRORS as exc:
        logger.warning("sync %s: broker unavailable (%r); beat resumes its lanes when it is back", sync_id, exc)
        return False
    return True


# How long a publish waits for the broker (about 40 s in all): a Redis restart takes a few seconds.
PUBLISH_RETRY = {"max_retries": 12, "interval_start": 0.5, "interval_step": 0.5, "interval_max": 5}
