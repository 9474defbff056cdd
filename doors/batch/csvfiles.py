"""The CSV side of the batch door shared by uploads and result files: the outcome columns, data-record
numbering, and the stored original file (formula neutralisation and its undoing: `kernel.csvcells`).

Result files repeat each input row's own cells, in the original column order, behind the outcome
columns; a batch upload recognises and ignores exactly these outcome columns and undoes the
neutralisation, so an error file can be fixed and uploaded again as it is.
"""

from __future__ import annotations

import csv
import io
import zlib
from collections.abc import Iterator

from django.db import connection

SUCCESS_COLUMNS = ("RowNumber", "OpportunityId", "OpportunityExternalId", "StageCreated", "Outcome")
ERROR_COLUMNS = ("RowNumber", "ErrorCode", "ErrorField", "ErrorMessage")
# The columns a result file adds; an upload ignores them (any letter case), and nothing else.
OUTCOME_COLUMNS = tuple(dict.fromkeys((*SUCCESS_COLUMNS, *ERROR_COLUMNS)))

# The stored original file: parts of this many bytes (one row each in batches_batchfile), each
# compressed with zlib at level 1 (CSV shrinks about 4.5x; measured on the 100,000-row bench file,
# 11.5 MiB: 0.5 s to compress and insert, against 1.7 s uncompressed and 2.5 s with PostgreSQL's own
# pglz; the column is STORAGE EXTERNAL so PostgreSQL does not try again). Memory: one part at a time.
FILE_PART_BYTES = 1024 * 1024
FILE_COMPRESSION_LEVEL = 1


def is_blank(row: list[str]) -> bool:
    return not row or (len(row) == 1 and not row[0].strip())


def data_records(reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    """(n, cells) of each data record after the header: blank lines are skipped and not counted, so
    n is the row number everything reports (400 errors, rejects' recordIndex, result files). The
    header must have been taken from `reader` already (`first_row`)."""
    n = 0
    for row in reader:
        if is_blank(row):
            continue
        n += 1
        yield n, row


def first_row(reader: Iterator[list[str]]) -> list[str] | None:
    """The header: the first line with any cell."""
    return next((r for r in reader if r), None)


# --- the stored original file ---------------------------------------------------------------------


def batch_file_store(*, job_id: int, stream) -> int:
    """Copy the uploaded file (a binary stream, read from its start) into batches_batchfile in
    compressed parts of FILE_PART_BYTES; returns the bytes read. Runs in the caller's transaction."""
    stored = part = 0
    with connection.cursor() as cur:
        while block := stream.read(FILE_PART_BYTES):
            packed = zlib.compress(block, FILE_COMPRESSION_LEVEL)
            cur.cursor.execute(
                "INSERT INTO batches_batchfile (job_id, part, data) VALUES (%s, %s, %b)", [job_id, part, packed]
            )
            stored += len(block)
            part += 1
    return stored


class StoredFile(io.RawIOBase):
    """A job's stored file as a binary stream, one part in memory at a time."""

    def __init__(self, job_id: int):
        super().__init__()
        self.job_id, self.part, self.buffer, self.offset = job_id, 0, b"", 0

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while self.offset >= len(self.buffer):
            with connection.cursor() as cur:
                cur.execute(
                    "SELECT data FROM batches_batchfile WHERE job_id = %s AND part = %s", [self.job_id, self.part]
                )
                found = cur.fetchone()
            if found is None:
                return 0
            self.buffer, self.offset, self.part = zlib.decompress(found[0]), 0, self.part + 1
        n = min(len(target), len(self.buffer) - self.offset)
        target[:n] = self.buffer[self.offset : self.offset + n]
        self.offset += n
        return n


def stored_file_exists(job_id: int) -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM batches_batchfile WHERE job_id = %s AND part = 0", [job_id])
        return cur.fetchone() is not None


def stored_records(job_id: int) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The stored file's header cells and its (n, cells) data records, streamed."""
    text = io.TextIOWrapper(io.BufferedReader(StoredFile(job_id), FILE_PART_BYTES), encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    header = first_row(reader) or []
    return header, data_records(reader)
