"""Staging uploaded rows with bounded memory: CSV goes to PostgreSQL through COPY, JSON is parsed
incrementally (ijson) and COPYed row by row. A request stages all of its rows or none of them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from decimal import Decimal

import ijson
import psycopg
from django.conf import settings
from django.db import connection, transaction
from psycopg import sql

from .exceptions import Failure, PayloadTooLarge, ValidationFailed
from .models import ImportDefinition, StagedRow, StagedUpload

BLOCK = 64 * 1024  # bytes per read from the request stream and per COPY write


class LimitedStream(io.RawIOBase):
    """Reads a request body and raises PayloadTooLarge once more than `limit` bytes arrived."""

    def __init__(self, stream, limit: int):
        self.stream, self.limit, self.count = stream, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.stream.read(len(buffer))
        self.count += len(data)
        if self.count > self.limit:
            raise PayloadTooLarge(
                [Failure(field="body", constraint=f"Request body exceeds {self.limit} bytes.")],
                message="Storage space exceeded.",
            )
        buffer[: len(data)] = data
        return len(data)


def _too_large(content_length: int | None) -> None:
    limit = settings.BULK_MAX_UPLOAD_BYTES
    if content_length is not None and content_length > limit:
        raise PayloadTooLarge([Failure(field="body", constraint=f"Request body exceeds {limit} bytes.")])


def _lock_definition(definition: ImportDefinition) -> None:
    """FOR SHARE: uploads run side by side, but a sync snapshot (FOR UPDATE) waits for them."""
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM bulkapi_importdefinition WHERE id = %s FOR SHARE", [definition.pk])


def _read_header(stream) -> bytes:
    """The raw bytes of the CSV header line (quoted newlines respected)."""
    out = bytearray()
    quoted = False
    while True:
        ch = stream.read(1)
        if not ch:
            return bytes(out)
        if ch == b'"':
            quoted = not quoted
        if ch == b"\n" and not quoted:
            return bytes(out)
        out += ch
        if len(out) > 1024 * 1024:
            raise ValidationFailed([Failure(field="body", constraint="CSV header line is too long.")])


def staged_rows_load_csv(
    *,
    definition: ImportDefinition,
    stream,
    content_length: int | None,
    before_commit: Callable[[StagedUpload], None] | None = None,
) -> StagedUpload:
    """COPY a CSV body (header = definition keys) into staging; unknown columns are kept out.
    `before_commit(upload)` runs last inside the upload's transaction."""
    _too_large(content_length)
    body = io.BufferedReader(LimitedStream(stream, settings.BULK_MAX_UPLOAD_BYTES), BLOCK)
    header_raw = _read_header(body)
    try:
        header_text = header_raw.decode("utf-8").removeprefix("\ufeff").rstrip("\r")
    except UnicodeDecodeError:
        raise ValidationFailed([Failure(field="body", constraint="CSV must be UTF-8 encoded.")]) from None
    header = next(csv.reader([header_text]), [])
    if not header or all(not h.strip() for h in header):
        raise ValidationFailed([Failure(field="body", constraint="CSV must start with a header row.")])
    keys = dict(definition.fields)
    with transaction.atomic(durable=True):
        _lock_definition(definition)
        upload = StagedUpload.objects.create(definition=definition, content_type="text/csv", columns=header)
        tmp = [sql.Identifier(f"c{i}") for i in range(len(header))]
        with connection.cursor() as django_cur:
            cur = django_cur.cursor  # the psycopg cursor, for COPY
            cur.execute(
                sql.SQL("CREATE TEMP TABLE _upload ({}) ON COMMIT DROP").format(
                    sql.SQL(", ").join(sql.SQL("{} text").format(c) for c in tmp)
                )
            )
            try:
                with cur.copy(sql.SQL("COPY _upload FROM STDIN (FORMAT csv)")) as copy:
                    while block := body.read(BLOCK):
                        copy.write(block)
            except psycopg.errors.CharacterNotInRepertoire:
                raise ValidationFailed([Failure(field="body", constraint="CSV must be UTF-8 encoded.")]) from None
            except (psycopg.errors.BadCopyFileFormat, psycopg.errors.InvalidTextRepresentation) as exc:
                raise ValidationFailed(
                    [Failure(field="body", constraint=f"Unreadable CSV: {_pg_detail(exc)}")]
                ) from None
            positions = {}
            for i, name in enumerate(header):
                if name in keys and name not in positions:
                    positions[name] = i
            # jsonb_object(keys, values) builds the row a fifth faster than jsonb_build_object(k, v, ...)
            # (and takes any number of columns); a NULL value becomes a JSON null.
            data = (
                sql.SQL("jsonb_object(%s::text[], ARRAY[{}]::text[])").format(
                    sql.SQL(", ").join(tmp[i] for i in positions.values())
                )
                if positions
                else sql.SQL("'{}'::jsonb")
            )
            params = [list(positions)] if positions else []
            cur.execute(
                sql.SQL(
                    "INSERT INTO bulkapi_stagedrow (definition_id, upload_id, data) SELECT {}, {}, {} FROM _upload"
                ).format(sql.Literal(definition.pk), sql.Literal(upload.pk), data),
                params,
            )
            rows = cur.rowcount
            cur.execute("DROP TABLE _upload")
        StagedUpload.objects.filter(pk=upload.pk).update(row_count=rows, byte_count=body.raw.count)
        upload.row_count, upload.byte_count = rows, body.raw.count
        if before_commit is not None:
            before_commit(upload)
    return upload


def _pg_detail(exc: psycopg.Error) -> str:
    diag = exc.diag
    parts = [diag.message_primary or str(exc)]
    if diag.context:
        parts.append(diag.context.strip().splitlines()[0])
    return "; ".join(parts)


def _stringify(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal | int | float):
        return str(value)
    raise TypeError


def _json_rows(body, keys: dict[str, str], seen: set[str]) -> Iterator[tuple[str]]:
    index = 0
    try:
        first = body.peek(1)[:1]
        while first in (b" ", b"\n", b"\r", b"\t"):
            body.read(1)
            first = body.peek(1)[:1]
        if first != b"[":
            raise ValidationFailed([Failure(field="body", constraint="Must be a JSON array of objects.")])
        for item in ijson.items(body, "item", use_float=False):
            index += 1
            if not isinstance(item, dict):
                raise ValidationFailed(
                    [Failure(field="body", row=index, constraint="Each array element must be a JSON object.")]
                )
            seen.update(item.keys())
            row = {}
            for key, value in item.items():
                if key in keys:
                    try:
                        row[key] = _stringify(value)
                    except TypeError:
                        raise ValidationFailed(
                            [
                                Failure(
                                    field=key,
                                    row=index,
                                    constraint="Values must be strings, numbers, booleans or null.",
                                )
                            ]
                        ) from None
            yield (json.dumps(row),)
    except ijson.JSONError as exc:
        detail = exc.args[0] if exc.args else ""
        detail = (detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)).strip()
        if "utf8" in detail.lower() or "utf-8" in detail.lower():
            raise ValidationFailed(
                [Failure(field="body", row=index + 1, constraint="JSON must be UTF-8 encoded.")]
            ) from None
        where = f" (in or after array element {index + 1})" if index else ""
        raise ValidationFailed(
            [
                Failure(
                    field="body",
                    constraint=f"Invalid JSON{where}: {detail.splitlines()[0] if detail else 'unexpected end'}",
                )
            ]
        ) from None
    except UnicodeDecodeError:
        raise ValidationFailed([Failure(field="body", constraint="JSON must be UTF-8 encoded.")]) from None


def staged_rows_load_json(
    *,
    definition: ImportDefinition,
    stream,
    content_length: int | None,
    before_commit: Callable[[StagedUpload], None] | None = None,
) -> StagedUpload:
    """Stage a JSON array of flat objects, parsed incrementally; only definition keys are kept.
    `before_commit(upload)` runs last inside the upload's transaction."""
    _too_large(content_length)
    body = io.BufferedReader(LimitedStream(stream, settings.BULK_MAX_UPLOAD_BYTES), BLOCK)
    keys = dict(definition.fields)
    seen: set[str] = set()
    with transaction.atomic(durable=True):
        _lock_definition(definition)
        upload = StagedUpload.objects.create(definition=definition, content_type="application/json")
        rows = 0
        with connection.cursor() as django_cur:
            cur = django_cur.cursor
            with cur.copy(sql.SQL("COPY bulkapi_stagedrow (definition_id, upload_id, data) FROM STDIN")) as copy:
                for (data,) in _json_rows(body, keys, seen):
                    copy.write_row((definition.pk, upload.pk, data))
                    rows += 1
        StagedUpload.objects.filter(pk=upload.pk).update(
            row_count=rows, byte_count=body.raw.count, columns=sorted(seen)
        )
        upload.row_count, upload.byte_count, upload.columns = rows, body.raw.count, sorted(seen)
        if before_commit is not None:
            before_commit(upload)
    return upload


def staged_rows_clear(*, definition: ImportDefinition) -> int:
    """Drop the definition's staged, unsynced rows (409 while a sync of it is pending/active)."""
    from syncs.models import Sync, SyncStatus

    from .exceptions import Conflict

    with transaction.atomic(durable=True):
        with connection.cursor() as cur:
            cur.execute("SELECT 1 FROM bulkapi_importdefinition WHERE id = %s FOR UPDATE", [definition.pk])
        if Sync.objects.filter(definition=definition, status__in=[SyncStatus.PENDING, SyncStatus.ACTIVE]).exists():
            raise Conflict([Failure(field="syncs", constraint="A sync of this import is pending or active.")])
        deleted, _ = StagedRow.objects.filter(definition=definition).delete()
        StagedUpload.objects.filter(definition=definition, sync__isnull=True).delete()
    return deleted
