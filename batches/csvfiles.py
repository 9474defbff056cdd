"""Streaming the job's error and success files as CSV, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

# OWASP "CSV injection": cells a spreadsheet would read as a formula (or whose leading tab/CR
# hides one) get a leading apostrophe, which spreadsheets show as text.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

SUCCESS_HEADER = ("RowNumber", "OpportunityId", "Reference")
ERROR_HEADER = ("RowNumber", "Reference", "ErrorCode", "ErrorMessage")


def neutralise(value) -> str:
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(header: Iterable[str], rows: Iterable[tuple]) -> Iterator[str]:
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([neutralise(v) for v in row])
