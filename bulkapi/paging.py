"""The Eloqua list envelope: limit/offset/totalResults/orderBy/q, implemented once.

`{"items", "totalResults", "limit", "offset", "count", "hasMore"}`; `hasMore` is computed from
the actual offset because clients advance it by 1, by `limit` or by 1000 regardless.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import QuerySet

from .exceptions import Failure, ValidationFailed
from .limits import BIGINT_MAX, parse_bounded_decimal, parse_bounded_int, parse_iso_date, parse_iso_datetime

MAX_LIMIT = 1000
# Largest `offset`: past any list we hold, and within PostgreSQL's bigint with the page added.
MAX_OFFSET = 2**31 - 1
_Q_TERM = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(>=|<=|!=|=|>|<)\s*(.*?)\s*$")


def _parse_bool(raw: str | None, default: bool) -> bool:
    if raw is None or raw == "":
        return default
    return raw.strip().lower() not in ("false", "0", "no")


@dataclass
class Page:
    limit: int
    offset: int
    total: bool


def page_params(query, max_limit: int = MAX_LIMIT) -> Page:
    failures = []
    values = {}
    for name, default, low, high in (("limit", max_limit, 1, max_limit), ("offset", 0, 0, MAX_OFFSET)):
        raw = query.get(name)
        if raw in (None, ""):
            values[name] = default
            continue
        value = parse_bounded_int(raw, low=low, high=high)
        if value is None:
            failures.append(Failure(field=name, value=raw, constraint=f"Must be an integer from {low} to {high}."))
        values[name] = value
    if failures:
        raise ValidationFailed(failures)
    return Page(values["limit"], values["offset"], _parse_bool(query.get("totalResults"), True))


@dataclass
class ListSpec:
    """What a list endpoint lets clients sort and filter on: wire name -> model field."""

    fields: dict[str, str]
    default_order: tuple[str, ...] = ("id",)
    date_fields: set[str] = field(default_factory=set)


def _wildcard_regex(value: str) -> str:
    return "^" + ".*".join(re.escape(part) for part in value.split("*")) + "$"


_NUMBER_FIELDS = (models.IntegerField, models.DecimalField, models.FloatField, models.AutoField)


def _typed(qs: QuerySet, column: str, name: str, value: str, spec: ListSpec, term: str):
    """A `q` value as the column's type, within the shared bounds; a 400 naming `q` otherwise."""

    def refuse(what: str):
        raise ValidationFailed([Failure(field="q", value=term, constraint=what)])

    try:
        field = qs.model._meta.get_field(column)
    except FieldDoesNotExist:
        field = None
    if name in spec.date_fields or isinstance(field, models.DateTimeField):
        parsed = parse_iso_datetime(value)
        if parsed is None:
            refuse("Not an ISO 8601 date-time (offsets at most +/-15:59).")
        return parsed
    if isinstance(field, models.DateField):
        parsed = parse_iso_date(value)
        if parsed is None:
            refuse("Not a date (YYYY-MM-DD).")
        return parsed
    if isinstance(field, _NUMBER_FIELDS):
        parsed = parse_bounded_decimal(value)
        if parsed is None or abs(parsed) > BIGINT_MAX:
            refuse("Not a number.")
        return parsed
    return value


def apply_query(qs: QuerySet, query, spec: ListSpec) -> QuerySet:
    q = (query.get("q") or "").strip()
    if q:
        if len(q) >= 2 and q[0] == q[-1] == '"':
            q = q[1:-1]
        for term in re.split(r"\s+(?=[A-Za-z_][\w.]*\s*(?:>=|<=|!=|=|>|<))", q):
            match = _Q_TERM.match(term)
            if not match or match.group(1).lower() not in {k.lower() for k in spec.fields}:
                raise ValidationFailed([Failure(field="q", value=term, constraint="Unknown filter term.")])
            name = next(k for k in spec.fields if k.lower() == match.group(1).lower())
            column, op, value = spec.fields[name], match.group(2), match.group(3)
            if len(value) >= 2 and value[0] == value[-1] == "'":
                value = value[1:-1]
            if "*" not in value or op not in ("=", "!="):
                value = _typed(qs, column, name, value, spec, term)
            lookups = {">": "gt", "<": "lt", ">=": "gte", "<=": "lte"}
            if op in lookups:
                qs = qs.filter(**{f"{column}__{lookups[op]}": value})
            else:
                cond = {f"{column}__iregex": _wildcard_regex(value)} if isinstance(value, str) else {column: value}
                qs = qs.exclude(**cond) if op == "!=" else qs.filter(**cond)
    order = (query.get("orderBy") or "").strip()
    if order:
        name, _, direction = order.partition(" ")
        key = next((k for k in spec.fields if k.lower() == name.lower()), None)
        if key is None or direction.strip().upper() not in ("", "ASC", "DESC"):
            raise ValidationFailed([Failure(field="orderBy", value=order, constraint="Unknown sort.")])
        prefix = "-" if direction.strip().upper() == "DESC" else ""
        return qs.order_by(prefix + spec.fields[key], prefix + "id")
    return qs.order_by(*spec.default_order)


def envelope(items: list, page: Page, total: int | None, has_more: bool) -> dict:
    body: dict = {"items": items}
    if page.total:
        body["totalResults"] = total
    body.update(limit=page.limit, offset=page.offset, count=len(items), hasMore=has_more)
    return body


def paginate(
    qs: QuerySet,
    query,
    render: Callable[[Iterable], list],
    spec: ListSpec | None = None,
    max_limit: int = MAX_LIMIT,
) -> dict:
    """Filter, sort and page `qs` per the request's query, render the page, and wrap it."""
    page = page_params(query, max_limit)
    if spec is not None:
        qs = apply_query(qs, query, spec)
    if page.total:
        total = qs.count()
        rows = list(qs[page.offset : page.offset + page.limit]) if page.offset < total else []
        return envelope(render(rows), page, total, page.offset + len(rows) < total)
    rows = list(qs[page.offset : page.offset + page.limit + 1])
    has_more = len(rows) > page.limit
    return envelope(render(rows[: page.limit]), page, None, has_more)


def paginate_list(values: list, query, max_limit: int = MAX_LIMIT) -> dict:
    """The envelope over an in-memory list (small catalogs such as /fields)."""
    page = page_params(query, max_limit)
    rows = values[page.offset : page.offset + page.limit]
    return envelope(rows, page, len(values), page.offset + len(rows) < len(values))
