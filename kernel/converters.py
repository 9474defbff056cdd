"""Path converters every app's `api/urls.py` uses (registered once, in `BulkapiConfig.ready`).

`<id:pk>` instead of Django's `<int:pk>`: at most 18 digits, so an id always fits PostgreSQL's
bigint and a 1 MB number in a URL is a plain 404 (the route does not match) rather than Python's
4,300-digit conversion error or a query PostgreSQL refuses.
"""

from __future__ import annotations

ID_MAX_DIGITS = 18


class IdConverter:
    regex = f"[0-9]{{1,{ID_MAX_DIGITS}}}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


def register() -> None:
    from django.urls import register_converter

    register_converter(IdConverter, "id")
