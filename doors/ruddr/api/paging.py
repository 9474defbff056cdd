"""Ruddr's list shape: `{"results": [...], "hasMore": bool}`, paged by cursor.

`limit` 1 to 100 (default 10); `startingAfter=<id>` gives the page after that record,
`endingBefore=<id>` the page before it (not both). Records are in id order: ids are time-ordered
uuids (version 7), so this is creation order, and the cursor is a keyset (`uuid > cursor`), never
an OFFSET. A cursor must be a record of the list (the caller's site): another site's id is a 400
naming the parameter, as an unknown or malformed parameter is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter

from doors.rest.opportunities.serializers import parse_uuid
from kernel.exceptions import Failure, ValidationFailed
from kernel.limits import parse_bounded_int

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
PAGE_PARAMETERS = ("limit", "startingAfter", "endingBefore")

PARAMETERS = [
    OpenApiParameter("limit", int, description=f"Page size, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT})."),
    OpenApiParameter("startingAfter", str, description="An id of the list: the page after that record."),
    OpenApiParameter("endingBefore", str, description="An id of the list: the page before that record."),
]


def cursor_page(qs: QuerySet, query, render: Callable[[list], Iterable], *, filters: Iterable[str] = ()) -> dict:
    """One page of `qs` (already site-scoped and filtered) as `{results, hasMore}`. `filters` are
    the other query parameters the caller read; any other parameter is a 400."""
    failures = [
        Failure(field=name, value=name[:100], constraint="Unknown query parameter.")
        for name in query
        if name not in PAGE_PARAMETERS and name not in set(filters)
    ]
    limit = DEFAULT_LIMIT
    raw = query.get("limit")
    if raw not in (None, ""):
        limit = parse_bounded_int(raw, low=1, high=MAX_LIMIT)
        if limit is None:
            failures.append(
                Failure(field="limit", value=raw[:100], constraint=f"Must be an integer from 1 to {MAX_LIMIT}.")
            )
    after, before = query.get("startingAfter"), query.get("endingBefore")
    if after is not None and before is not None:
        failures.append(Failure(field="endingBefore", constraint="Give startingAfter or endingBefore, not both."))
    cursors = {}
    for name, raw in (("startingAfter", after), ("endingBefore", before)):
        if raw is None:
            continue
        value = parse_uuid(raw)
        if value is None:
            failures.append(Failure(field=name, value=raw[:100], constraint="Must be an id (uuid)."))
        elif not qs.filter(uuid=value).exists():
            failures.append(Failure(field=name, value=raw[:100], constraint="No record of this list has this id."))
        else:
            cursors[name] = value
    if failures:
        raise ValidationFailed(failures)
    if "endingBefore" in cursors:
        rows = list(qs.filter(uuid__lt=cursors["endingBefore"]).order_by("-uuid")[: limit + 1])
        has_more = len(rows) > limit
        rows = rows[:limit][::-1]
    else:
        if "startingAfter" in cursors:
            qs = qs.filter(uuid__gt=cursors["startingAfter"])
        rows = list(qs.order_by("uuid")[: limit + 1])
        has_more = len(rows) > limit
        rows = rows[:limit]
    return {"results": render(rows), "hasMore": has_more}
