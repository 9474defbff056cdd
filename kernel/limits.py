"""What any input may be: the checks and bounds every door applies before anything reaches the
database (README "Limits"). One place, so a JSON body, a CSV cell, a query parameter, a credential
and a definition name are held to the same rules.

PostgreSQL text cannot hold NUL (U+0000), and UTF-8 cannot encode an unpaired surrogate
(U+D800..U+DFFF, which JSON's `\\ud800` escape produces); its timestamps take offsets up to
+/-15:59. Python's own limits (4,300-digit integers, years 1..9999, recursion) must never be what
refuses an input either: each bound here is tighter, and answered as a 400 naming the field.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.utils.dateparse import parse_date, parse_datetime

from kernel.exceptions import Failure

# Unpaired surrogates and NUL: what PostgreSQL text (and jsonb) cannot store.
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
# PostgreSQL refuses time zone displacements beyond 15:59 ("time zone displacement out of range").
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)
# A number in a JSON body or a query parameter: at most this many characters. bigint has 19 digits,
# an amount 20; anything longer is a mistake or an attack on Python's 4,300-digit conversion limit.
MAX_NUMBER_CHARS = 40
# A date or date-time text: the longest ISO 8601 form with fractions and offset is about 35.
MAX_DATE_CHARS = 64
# PostgreSQL bigint, the type of every id and of externalSystemId.
BIGINT_MAX = 2**63 - 1


def json_max_depth() -> int:
    """Nesting of arrays and objects in an ordinary JSON body (JSON_MAX_DEPTH)."""
    return settings.JSON_MAX_DEPTH


def text_problem(value: str) -> str | None:
    """Why PostgreSQL could not store `value` (NUL or an unpaired surrogate), or None."""
    found = _BAD_TEXT.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "Must not contain NUL characters (U+0000)."
    return f"Must not contain unpaired surrogate characters (U+{ord(found.group()):04X})."


def text_failure(value: str, *, field: str, row: int | None = None, max_length: int | None = None) -> Failure | None:
    """The failure of a text value (NUL, surrogates, longer than `max_length`), or None."""
    problem = text_problem(value)
    if problem is None and max_length is not None and len(value) > max_length:
        problem = f"At most {max_length} characters."
    if problem is None:
        return None
    return Failure(field=field, row=row, value=value, constraint=problem)


class OversizedNumber(str):
    """A JSON number token longer than MAX_NUMBER_CHARS, kept as its text so the walk can name it."""


def parse_json_int(token: str) -> int | OversizedNumber:
    return OversizedNumber(token) if len(token) > MAX_NUMBER_CHARS else int(token)


def parse_json_float(token: str) -> float | OversizedNumber:
    return OversizedNumber(token) if len(token) > MAX_NUMBER_CHARS else float(token)


def json_failure(value: object, path: str = "", depth: int = 0) -> Failure | None:
    """The first thing in a parsed JSON document that no door accepts: text PostgreSQL cannot hold
    (in keys too), a number too long or not finite, nesting deeper than JSON_MAX_DEPTH."""
    if isinstance(value, str):
        if isinstance(value, OversizedNumber):
            return Failure(
                field=path or "body", value=value, constraint=f"Numbers have at most {MAX_NUMBER_CHARS} characters."
            )
        problem = text_problem(value)
        return Failure(field=path or "body", value=value, constraint=problem) if problem else None
    if isinstance(value, float) and not math.isfinite(value):
        return Failure(field=path or "body", value=str(value), constraint="Numbers must be finite.")
    if isinstance(value, dict | list):
        if depth >= json_max_depth():
            return Failure(field=path or "body", constraint=f"Arrays and objects nest at most {json_max_depth()} deep.")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str):
                problem = text_problem(key)
                if problem:
                    return Failure(field=(f"{path}." if path else "") + key, constraint="Property name: " + problem)
                child = f"{path}.{key}" if path else key
            else:
                child = f"{path}[{key}]"
            found = json_failure(item, child, depth + 1)
            if found is not None:
                return found
    return None


def parse_iso_datetime(text: str) -> datetime | None:
    """An ISO 8601 date or date-time PostgreSQL can store, aware (no zone: UTC); None otherwise.

    Offsets beyond +/-15:59 and instants outside years 1..9999 in UTC are refused rather than left
    to PostgreSQL's or Python's own errors."""
    if not isinstance(text, str) or len(text) > MAX_DATE_CHARS or text_problem(text):
        return None
    try:
        value = parse_datetime(text.strip())
    except ValueError:  # well formed but impossible: month 13, offset +25:00
        return None
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    offset = value.utcoffset()
    if offset is None or abs(offset) > MAX_UTC_OFFSET:
        return None
    try:
        value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00-05:00 is in year 10000 in UTC
        return None
    return value


def parse_iso_date(text: str) -> date | None:
    """`YYYY-MM-DD` (a real calendar date), or None."""
    if not isinstance(text, str) or len(text) > MAX_DATE_CHARS or text_problem(text):
        return None
    try:
        return parse_date(text.strip())
    except ValueError:
        return None


def parse_bounded_decimal(text: str) -> Decimal | None:
    """A finite decimal number of at most MAX_NUMBER_CHARS characters, or None."""
    if not isinstance(text, str) or len(text.strip()) > MAX_NUMBER_CHARS:
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def parse_bounded_int(text: str, *, low: int = -BIGINT_MAX - 1, high: int = BIGINT_MAX) -> int | None:
    """An integer from `low` to `high` (by default PostgreSQL's bigint), or None."""
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        value = text
    elif isinstance(text, str) and len(text.strip()) <= MAX_NUMBER_CHARS:
        try:
            value = int(text.strip())
        except ValueError:
            return None
    else:
        return None
    return value if low <= value <= high else None
