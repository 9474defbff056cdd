"""Eloqua markup statements (`{{Opportunity.Field(Amount)}}`): the one parser everything uses.

Entity and attribute words are case-insensitive; what the client sent is kept for echoing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_STATEMENT = re.compile(
    r"^\{\{\s*(?P<path>[A-Za-z]+(?:\.[A-Za-z]+)*)\."
    r"(?:[Ff][Ii][Ee][Ll][Dd]\((?P<field>[A-Za-z0-9_]+)\)|(?P<attr>[A-Za-z]+))\s*\}\}$"
)


class StatementError(ValueError):
    pass


@dataclass(frozen=True)
class Statement:
    """A parsed statement: the entity path, and either a named field or a system attribute."""

    path: tuple[str, ...]
    field: str | None = None
    attribute: str | None = None

    @property
    def key(self) -> str:
        """Canonical, case-folded form used to compare statements."""
        tail = f"field({self.field.lower()})" if self.field else self.attribute.lower()
        return ".".join(self.path) + "." + tail

    @property
    def root(self) -> str:
        return self.path[0]


def parse_statement(text: object) -> Statement:
    if not isinstance(text, str):
        raise StatementError("Must be a markup statement string such as {{Opportunity.Field(Name)}}.")
    match = _STATEMENT.match(text.strip())
    if not match:
        raise StatementError("Malformed markup statement; expected {{Entity.Field(Name)}} or {{Entity.Attribute}}.")
    path = tuple(part.lower() for part in match.group("path").split("."))
    return Statement(path=path, field=match.group("field"), attribute=match.group("attr"))


def statement_key(text: str) -> str:
    return parse_statement(text).key
