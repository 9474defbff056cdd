"""CSV cells every door shares: OWASP's CSV-injection rule on the way out, and its undoing on the way in.

Out (`neutralise`, `csv_lines`): every cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage
return gets a leading `'`, numbers included (`+442079460958`, `-5.25`): OWASP's rule has no
exceptions, because a spreadsheet also computes `-2+3` and `+1-1`. Spreadsheets show such a cell as
its text.

In (`unneutralise` in Python, `unneutralise_sql` for uploads COPYed straight into PostgreSQL): a
cell that is `'` followed by one of those characters is read as the text after the `'`, so a result
file uploads again as it is. Any other cell starting with `'` is read as it is.

Every CSV the server writes goes through `csv_lines`; every CSV upload path reads its cells through
one of the two readers (the batch door in Python, the Bulk API's CSV staging in SQL).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from psycopg import sql

from .db import Value

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_START = frozenset(FORMULA_PREFIXES)
# The same test in PostgreSQL's regex syntax (a parameter, never SQL text): `'` then one of them.
NEUTRALISED_RE = "^'[=+@\t\r-]"


def neutralise(value) -> str:
    if value is None:
        return ""
    text = value if type(value) is str else str(value)  # noqa: E721 - the fast path for the usual case
    if text and text[0] in _FORMULA_START:
        return "'" + text
    return text


def unneutralise(cell: str) -> str:
    """What an upload reads in a cell: `'` followed by a formula character is the text after the `'`
    (the way result files, and spreadsheets, write such cells); any other cell is as it is."""
    if cell[:1] == "'" and cell[1:2] and cell[1] in _FORMULA_START:
        return cell[1:]
    return cell


def unneutralise_sql(cell: sql.Composable) -> sql.Composable:
    """`unneutralise` as a PostgreSQL expression over a text column; the pattern is a parameter."""
    return sql.SQL("CASE WHEN {0} ~ {1} THEN substr({0}, 2) ELSE {0} END").format(cell, Value(NEUTRALISED_RE))


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(header: Iterable[str], rows: Iterable[Iterable]) -> Iterator[str]:
    """The lines of a CSV file (CRLF), every cell neutralised: what a StreamingHttpResponse sends."""
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    safe = neutralise
    yield writer.writerow([safe(v) for v in header])
    for row in rows:
        yield writer.writerow([safe(v) for v in row])
