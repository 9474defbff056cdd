"""`Idempotency-Key` on the writes a client may need to retry after a timeout: data uploads, `POST
/syncs`, the batch upload, the deal upsert.

Semantics of Stripe and of the IETF httpapi idempotency-key draft: the same key with the same request
(method, path, content type and body) within `IDEMPOTENCY_KEY_SECONDS` (24 h) replays the stored
status and body, with `Idempotent-Replayed: true`, without doing the work again; the same key with
another request is a 422; while the first request with the key is still running, a 409. Keys are
scoped to the site and the user. The answer is stored in the same transaction as the work (each
service takes a `before_commit` hook), so a client that retries after a timeout never has the work
done twice, and never gets a replay of work that did not commit. Only successful answers are
stored: a request refused for its input did nothing, and a retry is judged again.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone
from psycopg import sql
from rest_framework import status
from rest_framework.response import Response

from kernel.exceptions import BulkError, Failure, ValidationFailed
from kernel.models import IdempotencyClaim, IdempotencyKey

HEADER = "HTTP_IDEMPOTENCY_KEY"
# A key is up to 255 visible ASCII characters (a UUID, as clients usually send); the IETF draft sends
# it as a structured-field string, in double quotes, which are taken off.
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
BLOCK = 64 * 1024


class KeyInUse(BulkError):
    status_code = status.HTTP_409_CONFLICT
    code = "idempotency_key_in_use"
    message = "A request with this Idempotency-Key is still being processed; retry later."


class KeyReused(BulkError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was used for a different request."


class Idempotency:
    """One request's key: its fingerprint, and the hook that stores the answer with the work."""

    def __init__(self, request, key: str, digest: Callable[[], str]):
        self.site, self.user, self.key = request.user.site, request.user, key
        self.digest = digest
        self._prefix = "\n".join(
            (request.method, request.path, (request.content_type or "").split(";")[0].strip().lower())
        )

    def fingerprint(self) -> str:
        return hashlib.sha256(f"{self._prefix}\n{self.digest()}".encode()).hexdigest()

    def hook(self, render: Callable[[Any], tuple[int, Any]]) -> Callable[[Any], None]:
        """A `before_commit(result)` for a service: stores `render(result)` = (status, body)."""

        def before_commit(result) -> None:
            status_code, body = render(result)
            IdempotencyKey.objects.create(
                site=self.site,
                user=self.user,
                key=self.key,
                fingerprint=self.fingerprint(),
                status_code=status_code,
                body=_storable(body),
            )

        return before_commit


def parse_key(raw: str) -> str:
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not _KEY.match(key):
        raise ValidationFailed(
            [
                Failure(
                    field="Idempotency-Key",
                    value=raw[:300],
                    constraint="Must be 1 to 255 visible ASCII characters, such as a UUID.",
                )
            ]
        )
    return key


def idempotent(request, handle: Callable[[Idempotency | None], Response], *, digest: Callable[[], str]) -> Response:
    """Run `handle(idempotency)` under the request's Idempotency-Key, or replay what it answered.

    `digest()` is the SHA-256 (hex) of the request body; it may read the body (then it is called
    only once `handle` is done with it, or instead of `handle` to compare with a stored answer)."""
    raw = request.META.get(HEADER)
    if raw is None:
        return handle(None)
    key = parse_key(raw)
    holder = claim_key(site_id=request.user.site_id, user_id=request.user.pk, key=key)
    try:
        idempotency = Idempotency(request, key, digest)
        since = timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_KEY_SECONDS)
        keys = IdempotencyKey.objects.filter(site=request.user.site, user=request.user, key=key)
        stored = keys.filter(created_at__gte=since).first()
        if stored is None:
            keys.delete()  # an expired answer under this key gives way
            return handle(idempotency)
        if idempotency.fingerprint() != stored.fingerprint:
            raise KeyReused([Failure(field="Idempotency-Key", value=key, constraint=KeyReused.message)])
        response = Response(_stored(stored.body), status=stored.status_code)
        response["Idempotent-Replayed"] = "true"
        return response
    finally:
        IdempotencyClaim.objects.filter(holder=holder).delete()


def claim_key(*, site_id: int, user_id: int, key: str) -> uuid.UUID:
    """Claim the key for this request, in one statement committed at once (so other requests see
    it), or raise KeyInUse while another request's unexpired claim holds it. Holds no lock and no
    session state: it works the same through PgBouncer's transaction pooling, and a host that dies
    mid-request blocks its key for IDEMPOTENCY_CLAIM_SECONDS at most."""
    holder = uuid.uuid4()
    table = IdempotencyClaim._meta.db_table
    with connection.cursor() as cur:
        cur.execute(
            sql.SQL(
                "INSERT INTO {table} AS c (site_id, user_id, key, holder, expires_at)"
                " VALUES (%s, %s, %s, %s, now() + make_interval(secs => %s))"
                " ON CONFLICT (site_id, user_id, key) DO UPDATE"
                " SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at WHERE c.expires_at < now()"
                " RETURNING c.holder"
            ).format(table=sql.Identifier(table)),
            [site_id, user_id, key, holder, settings.IDEMPOTENCY_CLAIM_SECONDS],
        )
        if cur.fetchone() is None:
            raise KeyInUse([Failure(field="Idempotency-Key", value=key, constraint=KeyInUse.message)])
    return holder


def body_digest(request) -> Callable[[], str]:
    """The digest of a body Django holds whole (JSON endpoints, within DATA_UPLOAD_MAX_MEMORY_SIZE):
    read before DRF parses it."""
    value = hashlib.sha256(request._request.body).hexdigest()
    return lambda: value


def files_digest(request) -> Callable[[], str]:
    """The digest of a multipart body's form fields and files, in order (the batch upload)."""

    def digest() -> str:
        h = hashlib.sha256()
        for name, value in sorted(request.POST.lists()):
            h.update(f"field {name}={value!r}\n".encode())
        for name, files in sorted(request.FILES.lists()):
            for upload in files:
                h.update(f"file {name} {upload.name!r} {upload.size}\n".encode())
                upload.seek(0)
                for chunk in upload.chunks(BLOCK):
                    h.update(chunk)
                upload.seek(0)
        return h.hexdigest()

    return digest


class HashingReader:
    """A request body stream that hashes what is read from it (the streamed data uploads)."""

    def __init__(self, stream):
        self.stream, self.sha = stream, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.sha.update(data)
        return data

    def digest(self) -> str:
        """The whole body's digest: what has not been read yet is read now (and hashed)."""
        while self.read(BLOCK):
            pass
        return self.sha.hexdigest()


# Expired answers deleted per statement: each DELETE is short, whatever the backlog.
PURGE_BATCH = 5000


def keys_purge_expired() -> int:
    """Delete the answers older than IDEMPOTENCY_KEY_SECONDS, oldest first, PURGE_BATCH at a time
    (by the `created_at` index), and the claims left by processes that died. A batched delete, not
    partitions: one answer per write request (an upload part carries up to 32 MB of rows), a day's
    worth at most, a small table whatever the rows imported (docs/scaling.md)."""
    cutoff = timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_KEY_SECONDS)
    deleted = 0
    while True:
        batch = list(
            IdempotencyKey.objects.filter(created_at__lt=cutoff)
            .order_by("created_at")
            .values_list("pk", flat=True)[:PURGE_BATCH]
        )
        if batch:
            deleted += IdempotencyKey.objects.filter(pk__in=batch).delete()[0]
        if len(batch) < PURGE_BATCH:
            break
    IdempotencyClaim.objects.filter(expires_at__lt=timezone.now()).delete()  # left by a process that died
    return deleted


# jsonb holds no NUL and no lone surrogate, but an answer may (a failed deal names a client's property
# name as it was sent): such a body is kept as its JSON text, which replays exactly the same.
_AS_TEXT = "idempotencyStoredAsJsonText"
_UNSTORABLE_ESCAPE = re.compile(r"\\u(0000|d[89a-f][0-9a-f]{2})", re.IGNORECASE)


def _storable(body: Any) -> Any:
    text = json.dumps(body)
    return {_AS_TEXT: text} if _UNSTORABLE_ESCAPE.search(text) else body


def _stored(body: Any) -> Any:
    if isinstance(body, dict) and len(body) == 1 and _AS_TEXT in body:
        return json.loads(body[_AS_TEXT])
    return body
