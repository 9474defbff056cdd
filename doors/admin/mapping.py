"""Suggested mappings for a new import definition built from a CSV header."""

from __future__ import annotations

import re

from kernel.models import Site
from pipeline.catalog import EntitySpec, FieldSpec
from pipeline.statements import parse_statement

_NON_ALNUM = re.compile(r"[^a-z0-9]")


def _norm(text: str) -> str:
    return _NON_ALNUM.sub("", text.lower())


def _names(field: FieldSpec, root: str) -> set[str]:
    inner = parse_statement(field.statement).key.split(".", 1)[-1]  # e.g. "field(amount)", "id"
    inner = inner.removeprefix("field(").removesuffix(")")
    names = {_norm(field.name), _norm(field.internal_name), _norm(inner)}
    return names | {n.removeprefix(root) for n in names if n.startswith(root) and n != root}


def mappable_fields(spec: EntitySpec, site: Site) -> list[FieldSpec]:
    """The statements a column can be mapped to: the site's catalog, less read-only fields."""
    return [f for f in spec.fields_for(site) if not f.read_only]


def suggest_mappings(columns: list[str], spec: EntitySpec, site: Site) -> dict[str, str]:
    """Column -> suggested statement (or "" for none): exact name matches first (`OpportunityName`
    is "Opportunity Name", `Amount` is Field(Amount)), then a column that starts a field's name
    (`Email` -> "Email Address"); each statement is suggested once, to the first such column."""
    root = spec.statement_root
    fields = mappable_fields(spec, site)
    names = [(f, _names(f, root)) for f in fields]
    taken: set[str] = set()
    out = {c: "" for c in columns}
    for exact in (True, False):
        for column in columns:
            if out[column]:
                continue
            col = _norm(column)
            candidates = {col, col.removeprefix(root)} - {""}
            for field, field_names in names:
                if field.statement in taken:
                    continue
                hit = (
                    candidates & field_names
                    if exact
                    else any(len(c) >= 4 and n.startswith(c) for c in candidates for n in field_names)
                )
                if hit:
                    out[column] = field.statement
                    taken.add(field.statement)
                    break
    return out


def suggest_identifier(mapping: dict[str, str], spec: EntitySpec) -> str:
    """The column mapped to the entity's identifier statement (or one of its allowed identifiers)."""
    allowed = (spec.identifier,) if spec.identifier else spec.identifiers
    for key in allowed:
        for column, statement in mapping.items():
            if statement and parse_statement(statement).key == key:
                return column
    return ""
