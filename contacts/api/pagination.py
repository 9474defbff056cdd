"""Limit/offset paging for the REST lists, in the same envelope as the Bulk API's lists:
`{"items", "totalResults", "limit", "offset", "count", "hasMore"}`. `limit` 1-1000 (default 100),
`offset` >= 0; anything else is a 400 naming the parameter."""

from __future__ import annotations

from rest_framework.pagination import BasePagination
from rest_framework.response import Response

from bulkapi.exceptions import Failure, ValidationFailed

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def _int(query, name: str, default: int, low: int, high: int | None, failures: list) -> int:
    raw = query.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        rule = f"Must be an integer from {low} to {high}." if high else f"Must be an integer >= {low}."
        failures.append(Failure(field=name, value=raw, constraint=rule))
        return default
    return value


class EnvelopePagination(BasePagination):
    def paginate_queryset(self, queryset, request, view=None):
        failures: list = []
        self.limit = _int(request.query_params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT, failures)
        self.offset = _int(request.query_params, "offset", 0, 0, None, failures)
        if failures:
            raise ValidationFailed(failures)
        self.total = queryset.count()
        return list(queryset[self.offset : self.offset + self.limit]) if self.offset < self.total else []

    def get_paginated_response(self, data):
        return Response(
            {
                "items": data,
                "totalResults": self.total,
                "limit": self.limit,
                "offset": self.offset,
                "count": len(data),
                "hasMore": self.offset + len(data) < self.total,
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["items", "totalResults", "limit", "offset", "count", "hasMore"],
            "properties": {
                "items": schema,
                "totalResults": {"type": "integer", "example": 1},
                "limit": {"type": "integer", "example": DEFAULT_LIMIT},
                "offset": {"type": "integer", "example": 0},
                "count": {"type": "integer", "example": 1},
                "hasMore": {"type": "boolean", "example": False},
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {"name": "limit", "required": False, "in": "query", "schema": {"type": "integer", "minimum": 1,
             "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}},
            {"name": "offset", "required": False, "in": "query", "schema": {"type": "integer", "minimum": 0,
             "default": 0}},
        ]  # fmt: skip
