"""The Eloqua list envelope: limit/offset/totalResults/orderBy/q, implemented once.

`{"items", "totalResults", "limit", "offset", "count", "hasMore"}`; `hasMore` is computed from
the actual offset because clients advance it by 1, by `limit` or by 1000 regardless. Bulk lists
call `paginate`; the `/api/v1` REST lists (DRF generic views) use `EnvelopePagination`, the same
code behind DRF's pagination interface.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.db.models import QuerySet
from rest_framework.pagination import BasePagination
from rest_framework.response import Response

from kernel.exceptions import Failure, ValidationFailed
from kernel.limits import BIGINT_MAX, parse_bounded_decimal, parse_bounded_int, parse_iso_date, parse_iso_datetime

MAX_LIMIT = 1000
# Largest `offset`: past any list we hold, and within PostgreSQL's bigint with the page added.
MAX_OFFSET = 2**31 - 1
_Q_TERM = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(>=|<=|!=|=|>|<)\s*(.*?)\s*$")
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL and lone surrogates: PostgreSQL text cannot hold them


# What every list takes (reference 2.2): the page and whether to count.
PAGE_PARAMS = frozenset({"limit", "offset", "totalResults"})
# What a list with a ListSpec takes besides: its sort and its Eloqua-style filter.
SPEC_PARAMS = frozenset({"orderBy", "q"})
# What Eloqua documents for every Bulk list beyond those, and we accept and ignore (reference 2.2:
# `links`, "return only these link relations", answers carry none; `depth`, the level of detail of
# Eloqua's application API, which clients send to the Bulk API too: its three values only).
ELOQUA_PARAMS: dict[str, frozenset[str] | None] = {
    "links": None,
    "depth": frozenset({"minimal", "partial", "complete"}),
}


def query_check(query, allowed) -> None:
    """Refuse a list's query parameters that the list does not take, or gives more than once: a 400
    naming each (`failures[].field` is the parameter, as an unknown body property is named), never
    ignored. A filter a client mistypes (`?account=` for `?accountId=`) would otherwise list
    everything. `allowed` maps a name to its allowed values (None: any), or is a set of names."""
    failures = []
    for name, values in query.lists():
        if name not in allowed:
            failures.append(Failure(field=name, value=values[0][:100], constraint="Unknown query parameter."))
        elif len(values) > 1:
            failures.append(Failure(field=name, value=values[-1][:100], constraint="Given more than once."))
        elif isinstance(allowed, dict) and allowed[name] is not None and values[0] not in {"", *allowed[name]}:
            failures.append(
                Failure(
                    field=name,
                    value=values[0][:100],
                    constraint="Must be one of: " + ", ".join(sorted(allowed[name])) + ".",
                )
            )
    if failures:
        raise ValidationFailed(failures)


def list_params(*, spec: ListSpec | None = None, q: bool = False, filters=(), eloqua: bool = False) -> dict:
    """The query parameters a list takes: paging, `orderBy`/`q` with a spec (`q` alone with q=True),
    the names of its filters (a django-filter FilterSet or names), and Eloqua's ignored ones."""
    names = set(PAGE_PARAMS)
    if spec is not None:
        names |= SPEC_PARAMS
    if q:
        names.add("q")
    names |= set(getattr(filters, "base_filters", filters))
    allowed: dict = dict.fromkeys(names)
    if eloqua:
        allowed.update(ELOQUA_PARAMS)
    return allowed


def _parse_bool(raw: str | None, default: bool, name: str = "totalResults") -> bool:
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise ValidationFailed([Failure(field=name, value=raw, constraint="Must be true or false.")])


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
            failures.append(
                Failure(field=name, value=raw[:100], constraint=f"Must be an integer from {low} to {high}.")
            )
        values[name] = value
    try:
        total = _parse_bool(query.get("totalResults"), True)
    except ValidationFailed as exc:
        failures += exc.failures
    if failures:
        raise ValidationFailed(failures)
    return Page(values["limit"], values["offset"], total)


@dataclass
class ListSpec:
    """What a list endpoint lets clients sort and filter on: wire name -> model field."""

    fields: dict[str, str]
    default_order: tuple[str, ...] = ("id",)
    date_fields: set[str] = field(default_factory=set)


def _wildcard_regex(value: str) -> str:
    return "^" + ".*".join(re.escape(part) for part in value.split("*")) + "$"


def _model_field(model, path: str) -> models.Field | None:
    """The model field a (possibly `__`-joined) column path ends at, or None."""
    try:
        for part in path.split("__")[:-1]:
            model = model._meta.get_field(part).related_model
        return model._meta.get_field(path.split("__")[-1])
    except (FieldDoesNotExist, AttributeError):
        return None


_NUMBER_FIELDS = (models.IntegerField, models.DecimalField, models.FloatField, models.AutoField)


def _term_value(qs: QuerySet, column: str, value: str, is_date: bool, term: str):
    """A `q` term's value typed like its column, within the shared bounds (kernel.limits): text stays
    text (wildcards apply); date-times are ISO 8601 (taken in UTC, offsets at most +/-15:59); dates
    YYYY-MM-DD; numbers are numbers within bigint. A 400 naming `q` otherwise."""

    def refuse(what: str):
        raise ValidationFailed([Failure(field="q", value=term, constraint=what)])

    target = _model_field(qs.model, column)
    if is_date or isinstance(target, models.DateTimeField):
        parsed = parse_iso_datetime(value)
        if parsed is None:
            refuse("Not an ISO 8601 date-time (offsets at most +/-15:59).")
        return parsed.astimezone(UTC)
    if isinstance(target, models.DateField):
        parsed = parse_iso_date(value)
        if parsed is None:
            refuse("Not a date (YYYY-MM-DD).")
        return parsed
    if isinstance(target, _NUMBER_FIELDS):
        parsed = parse_bounded_decimal(value)
        if parsed is None or abs(parsed) > BIGINT_MAX:
            refuse("Not a number.")
        return parsed
    if target is None or isinstance(target, models.CharField | models.TextField):
        if _UNSTORABLE.search(value):
            refuse("Contains a character text cannot hold.")
        return value
    try:
        typed = target.to_python(value)
        target.run_validators(typed)
    except (DjangoValidationError, ValueError, OverflowError):
        refuse("Not a valid value.")
    return typed


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
            value = _term_value(qs, column, value, name in spec.date_fields, term)
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


def page_rows(qs: QuerySet, page: Page) -> tuple[list, int | None, bool]:
    """The page's rows, the total (None when not asked for) and whether more rows follow."""
    if page.total:
        total = qs.count()
        rows = list(qs[page.offset : page.offset + page.limit]) if page.offset < total else []
        return rows, total, page.offset + len(rows) < total
    rows = list(qs[page.offset : page.offset + page.limit + 1])
    return rows[: page.limit], None, len(rows) > page.limit


def paginate(
    qs: QuerySet,
    query,
    render: Callable[[Iterable], list],
    spec: ListSpec | None = None,
    max_limit: int = MAX_LIMIT,
    *,
    filters=(),
    eloqua: bool = False,
) -> dict:
    """Filter, sort and page `qs` per the request's query, render the page, and wrap it. The query
    holds nothing else: `filters` (already applied by the caller) and, on the Eloqua door
    (`eloqua=True`), Eloqua's ignored parameters; anything more is a 400 (`query_check`)."""
    query_check(query, list_params(spec=spec, filters=filters, eloqua=eloqua))
    page = page_params(query, max_limit)
    if spec is not None:
        qs = apply_query(qs, query, spec)
    rows, total, has_more = page_rows(qs, page)
    return envelope(render(rows), page, total, has_more)


def paginate_list(
    values: list[dict], query, max_limit: int = MAX_LIMIT, *, q: bool = False, order_keys=(), eloqua: bool = False
) -> dict:
    """The envelope over an in-memory list of dicts (small catalogs such as /fields); `q`: the caller
    has applied a `q` filter; `order_keys`: the keys `orderBy` may name (the list keeps its order
    otherwise). Other query parameters are refused as in `paginate`."""
    allowed = list_params(q=q, eloqua=eloqua)
    if order_keys:
        allowed["orderBy"] = None
    query_check(query, allowed)
    page = page_params(query, max_limit)
    order = (query.get("orderBy") or "").strip()
    if order:
        name, _, direction = order.partition(" ")
        key = next((k for k in order_keys if k.lower() == name.lower()), None)
        if key is None or direction.strip().upper() not in ("", "ASC", "DESC"):
            raise ValidationFailed([Failure(field="orderBy", value=order, constraint="Unknown sort.")])
        values = sorted(
            values, key=lambda v: str(v.get(key) or "").lower(), reverse=direction.strip().upper() == "DESC"
        )
    rows = values[page.offset : page.offset + page.limit]
    return envelope(rows, page, len(values), page.offset + len(rows) < len(values))


class EnvelopePagination(BasePagination):
    """`paginate` as a DRF pagination class, for generic list views: the view's `list_spec` (a
    `ListSpec`) gives `orderBy` and `q`; filter backends have already applied the view's filters."""

    max_limit = MAX_LIMIT

    def paginate_queryset(self, queryset, request, view=None):
        spec = getattr(view, "list_spec", None)
        filters = getattr(view, "filterset_class", None) or ()
        query_check(request.query_params, list_params(spec=spec, filters=filters))
        self.page = page_params(request.query_params, self.max_limit)
        if spec is not None:
            queryset = apply_query(queryset, request.query_params, spec)
        rows, self.total, self.has_more = page_rows(queryset, self.page)
        return rows

    def get_paginated_response(self, data):
        return Response(envelope(list(data), self.page, self.total, self.has_more))

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["items", "limit", "offset", "count", "hasMore"],
            "properties": {
                "items": schema,
                "totalResults": {"type": "integer", "description": "Omitted with totalResults=false.", "example": 1},
                "limit": {"type": "integer", "example": self.max_limit},
                "offset": {"type": "integer", "example": 0},
                "count": {"type": "integer", "example": 1},
                "hasMore": {"type": "boolean", "example": False},
            },
        }

    def get_schema_operation_parameters(self, view):
        params = [
            {"name": "limit", "required": False, "in": "query", "description": f"Page size (default {self.max_limit}).",
             "schema": {"type": "integer", "minimum": 1, "maximum": self.max_limit, "default": self.max_limit}},
            {"name": "offset", "required": False, "in": "query", "description": "Items to skip.",
             "schema": {"type": "integer", "minimum": 0, "default": 0}},
            {"name": "totalResults", "required": False, "in": "query", "description": "Count all matches.",
             "schema": {"type": "boolean", "default": True}},
        ]  # fmt: skip
        spec = getattr(view, "list_spec", None)
        if spec is not None:
            params += [
                {"name": "orderBy", "required": False, "in": "query", "schema": {"type": "string"},
                 "description": "`<field> [ASC|DESC]`, field one of: " + ", ".join(spec.fields) + "."},
                {"name": "q", "required": False, "in": "query", "schema": {"type": "string"},
                 "description": "Eloqua-style terms such as `name='Acme*'`, over: " + ", ".join(spec.fields) + "."},
            ]  # fmt: skip
        return params
