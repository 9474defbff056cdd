"""Staging uploaded rows with bounded memory: CSV goes to PostgreSQL through COPY, JSON is parsed
incrementally (ijson) and COPYed row by row. A request stages all of its rows or none of them:
every refusal, a body cut short or over the limit included, raises inside the one transaction.

What PostgreSQL cannot hold never reaches it: a NUL or an invalid UTF-8 sequence in a CSV cell, NUL
in a JSON value or key, JSON nested inside a row, more than MAX_COLUMNS columns. Each is a 400
naming the row (1 = the first data row or array element) and the column. Values are otherwise
staged as they came: their lengths and formats are judged when the sync runs (rejects).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal

import ijson
import psycopg
from django.conf import settings
from django.db import connection, transaction
from psycopg import sql

from kernel.csvcells import unneutralise_sql
from kernel.db import Value
from kernel.exceptions import Failure, IncompleteBody, PayloadTooLarge, ValidationFailed
from kernel.jsonguard import JsonGuard
from kernel.limits import text_problem
from pipeline.models import ImportDefinition, StagedRow, StagedUpload
from pipeline.quotas import UPLOAD, Quota, QuotaRoom, quota_commit_check, quota_room

BLOCK = 64 * 1024  # bytes per read from the request stream and per COPY write
# Distinct columns (CSV header cells, JSON keys) one upload may carry: the definition has at most
# 100; a CSV is staged through a table of one column each (PostgreSQL allows 1,600).
MAX_COLUMNS = 1000
MAX_COLUMN_CHARS = 1000  # a column name (header cell, JSON key)


class LimitedStream(io.RawIOBase):
    """Reads a request body and raises PayloadTooLarge once more than `limit` bytes arrived, or
    IncompleteBody when it ends short of its Content-Length. `watch(count)`, when given, is called
    with the bytes read so far after each read, and may raise (the site's quota)."""

    def __init__(self, stream, limit: int, expected: int | None = None, watch: Callable[[int], None] | None = None):
        self.stream, self.limit, self.count, self.expected, self.watch = stream, limit, 0, expected, watch

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.stream.read(len(buffer))
        if not data and self.expected is not None and self.count < self.expected:
            raise IncompleteBody(
                [Failure(field="body", constraint=f"The body ended {self.expected - self.count} bytes early.")]
            )
        self.count += len(data)
        if self.count > self.limit:
            raise PayloadTooLarge(
                [Failure(field="body", constraint=f"Request body exceeds {self.limit} bytes.")],
                message="Storage space exceeded.",
            )
        if self.watch is not None:
            self.watch(self.count)
        buffer[: len(data)] = data
        return len(data)


def _too_large(content_length: int | None) -> None:
    limit = settings.BULK_MAX_UPLOAD_BYTES
    if content_length is not None and content_length > limit:
        raise PayloadTooLarge([Failure(field="body", constraint=f"Request body exceeds {limit} bytes.")])


def _open_body(definition: ImportDefinition, stream, content_length: int | None) -> tuple[io.BufferedReader, QuotaRoom]:
    """The body, bounded by the upload limit and the site's staging quota: refused before a byte is
    read when the site's quotas are used up (507) or its Content-Length does not fit (413), and
    while it streams once its bytes pass the room left (413)."""
    _too_large(content_length)
    room = quota_room(site=definition.site, quotas=UPLOAD)
    room.check(Quota.STAGED_BYTES, content_length)
    watch = None
    if room.left(Quota.STAGED_BYTES) is not None:

        def watch(count: int) -> None:
            room.check(Quota.STAGED_BYTES, count, at_least=True)

    limited = LimitedStream(stream, settings.BULK_MAX_UPLOAD_BYTES, content_length, watch)
    return io.BufferedReader(limited, BLOCK), room


def _commit_check(definition: ImportDefinition, upload: StagedUpload) -> None:
    quota_commit_check(
        site=definition.site, added={Quota.STAGED_ROWS: upload.row_count, Quota.STAGED_BYTES: upload.byte_count}
    )


def _lock_definition(definition: ImportDefinition) -> None:
    """FOR SHARE: uploads run side by side, but a sync snapshot (FOR UPDATE) waits for them.

    An upload to a definition that syncs on import makes that snapshot itself, at its end: two of
    them each holding FOR SHARE would deadlock asking for FOR UPDATE, so they take it at once and
    run one after the other (the second then finds the first's sync pending: a 409, rows staged)."""
    with connection.cursor() as cur:
        if definition.is_sync_triggered_on_import:
            cur.execute("SELECT 1 FROM bulkapi_importdefinition WHERE id = %s FOR UPDATE", [definition.pk])
        else:
            cur.execute("SELECT 1 FROM bulkapi_importdefinition WHERE id = %s FOR SHARE", [definition.pk])


def _column_failure(name: str, *, row: int | None = None, field: str | None = None) -> Failure | None:
    """Why `name` cannot be a column of an upload (text PostgreSQL cannot hold, too long), or None."""
    problem = text_problem(name)
    if problem is None and len(name) > MAX_COLUMN_CHARS:
        problem = f"A column name has at most {MAX_COLUMN_CHARS} characters."
    if problem is None:
        return None
    return Failure(field=field or name, row=row, value=name, constraint=problem)


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


def _csv_header(header_raw: bytes) -> list[str]:
    """The header's column names; a 400 naming the first one no upload may have."""
    try:
        header_text = header_raw.decode("utf-8").removeprefix("\ufeff").rstrip("\r")
    except UnicodeDecodeError:
        raise ValidationFailed([Failure(field="header", constraint="CSV must be UTF-8 encoded.")]) from None
    try:
        header = next(csv.reader([header_text]), [])
    except csv.Error as exc:
        raise ValidationFailed([Failure(field="header", constraint=f"Unreadable CSV header: {exc}.")]) from None
    if not header or all(not h.strip() for h in header):
        raise ValidationFailed([Failure(field="body", constraint="CSV must start with a header row.")])
    if len(header) > MAX_COLUMNS:
        raise ValidationFailed(
            [Failure(field="header", value=len(header), constraint=f"At most {MAX_COLUMNS} columns.")]
        )
    seen: set[str] = set()
    for i, name in enumerate(header, start=1):
        failure = _column_failure(name, field=f"header[{i}]")
        if failure is not None:
            raise ValidationFailed([failure])
        if name and name in seen:
            raise ValidationFailed(
                [Failure(field=name, value=name, constraint=f"Column {i} repeats a column name of the header.")]
            )
        seen.add(name)
    return header


class _Scrubber:
    """Passes CSV blocks to COPY, replacing what PostgreSQL would refuse in a cell (NUL, bytes that
    are not UTF-8) by a marker unique to the request and noting that it did. The upload then fails
    after COPY, naming the first row and column holding the marker: PostgreSQL's own error names
    neither the column nor the cause. ASCII blocks without NUL pass untouched (one C-speed test)."""

    _ESCAPED = re.compile("[\udc80-\udcff]+")  # undecodable bytes, as surrogateescape gives them

    def __init__(self):
        self.marker = f"#{uuid.uuid4().hex}#"
        self.problem: str | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        self._decoding = False

    def __call__(self, block: bytes, final: bool = False) -> bytes:
        if not self._decoding and block.isascii() and b"\x00" not in block:
            return block
        self._decoding = True  # once a block is decoded, a partial character may be pending
        text = self._decoder.decode(block, final)
        if "\x00" in text:
            self.problem = self.problem or "Must not contain NUL characters (U+0000)."
            text = text.replace("\x00", self.marker)
        if self._ESCAPED.search(text):
            self.problem = self.problem or "CSV must be UTF-8 encoded."
            text = self._ESCAPED.sub(self.marker, text)
        return text.encode("utf-8")


_PG_LINE = re.compile(r"COPY _upload, line (\d+)")
_PG_COLUMN = re.compile(r'column "c(\d+)"')


def _copy_failure(exc: psycopg.Error, header: list[str], header_lines: int, constraint: str) -> Failure:
    """A COPY error as a failure naming the file's line (PostgreSQL counts lines, and a quoted cell
    may span several, so it is not always the row) and, when PostgreSQL says, the column."""
    diag = exc.diag
    line = _PG_LINE.search(diag.context or "")
    column = _PG_COLUMN.search(diag.message_primary or "")
    field = header[int(column.group(1))] if column and int(column.group(1)) < len(header) else "body"
    where = f" at line {int(line.group(1)) + header_lines} of the file" if line else ""
    detail = _PG_COLUMN.sub(lambda m: f'column "{field}"', diag.message_primary or str(exc))
    return Failure(field=field or "body", constraint=f"{constraint}{where}: {detail}")


def _marked_cell(cur, header: list[str], marker: str) -> tuple[int, str] | None:
    """(row, column) of the first staged cell holding `marker`; rows in the order COPY wrote them."""
    cur.execute(
        sql.SQL(
            "SELECT t.n, u.i FROM (SELECT row_number() OVER () AS n, ARRAY[{}]::text[] AS cells FROM _upload) t,"
            " unnest(t.cells) WITH ORDINALITY AS u(cell, i) WHERE strpos(u.cell, %s) > 0 ORDER BY t.n, u.i LIMIT 1"
        ).format(sql.SQL(", ").join(sql.Identifier(f"c{i}") for i in range(len(header)))),
        [marker],
    )
    found = cur.fetchone()
    return (found[0], header[found[1] - 1]) if found else None


def staged_rows_load_csv(
    *,
    definition: ImportDefinition,
    stream,
    content_length: int | None,
    before_commit: Callable[[StagedUpload], None] | None = None,
) -> StagedUpload:
    """COPY a CSV body (header = definition keys) into staging; unknown columns are kept out.
    `before_commit(upload)` runs last inside the upload's transaction."""
    with transaction.atomic(durable=True):
        upload = staged_rows_copy_csv(definition=definition, stream=stream, content_length=content_length)
        if before_commit is not None:
            before_commit(upload)
    return upload


def staged_rows_copy_csv(*, definition: ImportDefinition, stream, content_length: int | None) -> StagedUpload:
    """`staged_rows_load_csv` inside the caller's transaction: another door stages a file and
    commits it with its own rows (its job, its sync), or nothing."""
    body, room = _open_body(definition, stream, content_length)
    header_raw = _read_header(body)
    header = _csv_header(header_raw)
    header_lines = header_raw.count(b"\n") + 1
    keys = dict(definition.fields)
    scrub = _Scrubber()
    with transaction.atomic(savepoint=False):
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
                        copy.write(scrub(block))
                    copy.write(scrub(b"", final=True))
            except psycopg.errors.CharacterNotInRepertoire as exc:
                raise ValidationFailed([_copy_failure(exc, header, header_lines, "Not UTF-8")]) from None
            except (psycopg.errors.BadCopyFileFormat, psycopg.errors.InvalidTextRepresentation) as exc:
                raise ValidationFailed([_copy_failure(exc, header, header_lines, "Unreadable CSV")]) from None
            except psycopg.errors.ProgramLimitExceeded as exc:
                raise ValidationFailed([_copy_failure(exc, header, header_lines, "A row too large to stage")]) from None
            copied = cur.rowcount  # the COPY's rows
            if scrub.problem is not None:
                found = _marked_cell(cur, header, scrub.marker)
                row, field = found if found else (None, "body")
                raise ValidationFailed([Failure(field=field, row=row, constraint=scrub.problem)])
            room.check(Quota.STAGED_ROWS, copied)  # before a row of it is written to staging
            positions = {}
            for i, name in enumerate(header):
                if name in keys and name not in positions:
                    positions[name] = i
            # jsonb_object(keys, values) builds the row a fifth faster than jsonb_build_object(k, v, ...)
            # (and takes any number of columns); a NULL value becomes a JSON null.
            # Each cell as an upload reads it: a neutralised formula cell (`'=...`) loses its `'`.
            data = (
                sql.SQL("jsonb_object({}::text[], ARRAY[{}]::text[])").format(
                    Value(list(positions)), sql.SQL(", ").join(unneutralise_sql(tmp[i]) for i in positions.values())
                )
                if positions
                else sql.SQL("'{}'::jsonb")
            )
            cur.execute(
                sql.SQL(
                    "INSERT INTO bulkapi_stagedrow (definition_id, upload_id, data) SELECT {}, {}, {} FROM _upload"
                ).format(Value(definition.pk), Value(upload.pk), data)
            )
            rows = cur.rowcount
            cur.execute("DROP TABLE _upload")
        StagedUpload.objects.filter(pk=upload.pk).update(row_count=rows, byte_count=body.raw.count)
        upload.row_count, upload.byte_count = rows, body.raw.count
        _commit_check(definition, upload)
    return upload


def _stringify(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal | int | float):
        return str(value)
    raise TypeError


def _invalid(row: int | None, constraint: str, field: str = "body") -> ValidationFailed:
    return ValidationFailed([Failure(field=field, row=row, constraint=constraint)])


def _new_column(key: str, row: int, seen: set[str]) -> None:
    failure = _column_failure(key, row=row)
    if failure is not None:
        raise ValidationFailed([Failure(field="body", row=row, value=key, constraint="Key: " + failure.constraint)])
    if len(seen) >= MAX_COLUMNS:
        raise _invalid(row, f"At most {MAX_COLUMNS} different keys per upload.", field=key)
    seen.add(key)


def _json_rows(body, keys: dict[str, str], seen: set[str]) -> Iterator[tuple[str]]:
    """The staged `data` of each element of a JSON array of flat objects, from ijson's events.

    Events rather than ijson.items: a row is built here, two levels deep at most, so a value nested
    inside a row is refused at its first bracket. items() builds any nesting it is given (and keeps
    a path string per level: 100,000 levels took gigabytes)."""
    index = 0
    guard = None
    try:
        first = body.peek(1)[:1]
        while first in (b" ", b"\n", b"\r", b"\t"):
            body.read(1)
            first = body.peek(1)[:1]
        if first != b"[":
            raise _invalid(None, "Must be a JSON array of objects.")
        guard = JsonGuard(body)
        events = ijson.basic_parse(guard, use_float=False)
        next(events)  # start_array
        dumps = json.dumps
        for event, value in events:
            if event == "end_array":
                break
            index += 1
            guard.row_start, guard.row_index = guard.fed, index
            if event != "start_map":
                raise _invalid(index, "Each array element must be a JSON object.")
            row = {}
            key = None
            for event, value in events:
                if event == "map_key":
                    key = value
                    if key not in seen:
                        if guard.found(key):
                            raise _invalid(index, "Key: " + guard.found(key))
                        _new_column(key, index, seen)
                elif event == "string":
                    if key in keys:
                        row[key] = value
                    elif "\x00" in value or guard.found(value):  # refused even where it is ignored
                        raise _invalid(index, guard.found(value) or text_problem(value), field=key)
                elif event == "end_map":
                    break
                elif event in ("start_map", "start_array"):
                    raise _invalid(index, "Values must be strings, numbers, booleans or null.", field=key)
                elif key in keys:
                    row[key] = _stringify(value)
            data = dumps(row)
            if "\\u0000" in data or guard.found(data):  # look closer
                for k, v in row.items():
                    why = isinstance(v, str) and (guard.found(v) or text_problem(v))
                    if why:
                        raise _invalid(index, why, field=k)
            yield (data,)
        for _ in events:
            raise _invalid(None, "Nothing may follow the JSON array.")
    except ijson.JSONError as exc:
        if guard is not None and guard.problem is not None:  # a marker where JSON needed a value
            where = f" (array element {index})" if index else ""
            raise _invalid(None, guard.PROBLEMS[guard.problem] + where) from None
        detail = exc.args[0] if exc.args else ""
        detail = (detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)).strip()
        if "utf8" in detail.lower() or "utf-8" in detail.lower():
            raise _invalid(index + 1, "JSON must be UTF-8 encoded.") from None
        where = f" (in or after array element {index + 1})" if index else ""
        raise _invalid(None, f"Invalid JSON{where}: {detail.splitlines()[0] if detail else 'unexpected end'}") from None
    except UnicodeDecodeError:
        raise _invalid(index + 1, "JSON must be UTF-8 encoded.") from None
    except ValueError:  # Python refuses to convert a number of more than 4,300 digits
        raise _invalid(index + 1, "A number is too long.") from None


def staged_rows_load_json(
    *,
    definition: ImportDefinition,
    stream,
    content_length: int | None,
    before_commit: Callable[[StagedUpload], None] | None = None,
) -> StagedUpload:
    """Stage a JSON array of flat objects, parsed incrementally; only definition keys are kept.
    `before_commit(upload)` runs last inside the upload's transaction."""
    body, room = _open_body(definition, stream, content_length)
    rows_left = room.left(Quota.STAGED_ROWS)
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
                    if rows_left is not None and rows > rows_left:
                        room.check(Quota.STAGED_ROWS, rows, at_least=True)
        StagedUpload.objects.filter(pk=upload.pk).update(
            row_count=rows, byte_count=body.raw.count, columns=sorted(seen)
        )
        upload.row_count, upload.byte_count, upload.columns = rows, body.raw.count, sorted(seen)
        _commit_check(definition, upload)
        if before_commit is not None:
            before_commit(upload)
    return upload


def staged_rows_clear(*, definition: ImportDefinition) -> int:
    """Drop the definition's staged, unsynced rows (409 while a sync of it is pending/active)."""
    from kernel.exceptions import Conflict
    from pipeline.models import Sync, SyncStatus

    with transaction.atomic(durable=True):
        with connection.cursor() as cur:
            cur.execute("SELECT 1 FROM bulkapi_importdefinition WHERE id = %s FOR UPDATE", [definition.pk])
        if Sync.objects.filter(definition=definition, status__in=[SyncStatus.PENDING, SyncStatus.ACTIVE]).exists():
            raise Conflict([Failure(field="syncs", constraint="A sync of this import is pending or active.")])
        deleted, _ = StagedRow.objects.filter(definition=definition).delete()
        StagedUpload.objects.filter(definition=definition, sync__isnull=True).delete()
    return deleted
