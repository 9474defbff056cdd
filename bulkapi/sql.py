"""SQL building blocks every set-based import processor shares (opportunities, contacts, accounts,
linkage): raw staged values, update rules, custom_fields jsonb, reject messages.

Everything is composed with `psycopg.sql`; values are parameters, identifiers `sql.Identifier`.
"""

from __future__ import annotations

from collections.abc import Iterable

from psycopg import sql

from .catalog import Mapping
from .models import UpdateRule


def raw_columns(mappings: Iterable[Mapping], source: str = "s") -> sql.Composable:
    """`NULLIF(btrim(s.data ->> %(k<i>)s), '') AS v<i>` for every mapping: blank means no value."""
    return sql.SQL(", ").join(
        sql.SQL("NULLIF(btrim({}.data ->> {}), '') AS {}").format(sql.Identifier(source), m.name, m.raw)
        for m in mappings
    )


def key_params(mappings: Iterable[Mapping]) -> dict[str, str]:
    """The `%(k<i>)s` parameters naming each mapping's definition key (keys are free text)."""
    return {f"k{m.index}": m.key for m in mappings}


def update_rule_expr(
    rule: str, new: sql.Composable, old: sql.Composable | None, never_cleared: bool = False
) -> sql.Composable:
    """The value a matched record's column takes under `rule` (reference 9.1)."""
    if rule == UpdateRule.IF_EXISTING_IS_NULL:
        return sql.SQL("COALESCE({}, {})").format(old, new)
    if never_cleared or rule == UpdateRule.IF_NEW_IS_NOT_NULL:
        return sql.SQL("COALESCE({}, {})").format(new, old)
    return new


def custom_fields_expr(maps: list[Mapping], src: str, old: sql.Composable | None) -> sql.Composable:
    """custom_fields after applying each custom field's rule (null values drop the key)."""
    pairs = []
    for m in maps:
        new = sql.SQL("to_jsonb({}.{})").format(sql.Identifier(src), m.parsed)
        prev = sql.SQL("{} -> {}").format(old, sql.Literal(m.field.custom_key)) if old is not None else None
        value = update_rule_expr(m.rule, new, prev) if prev is not None else new
        pairs.append(sql.SQL("{}, {}").format(sql.Literal(m.field.custom_key), value))
    # jsonb_build_object takes at most 100 arguments: build groups of 50 pairs and concatenate.
    groups = [
        sql.SQL("jsonb_strip_nulls(jsonb_build_object({}))").format(sql.SQL(", ").join(pairs[i : i + 50]))
        for i in range(0, len(pairs), 50)
    ]
    built = sql.SQL(" || ").join(groups)
    if old is None:
        return built
    base = old
    for m in maps:
        base = sql.SQL("({} - {})").format(base, sql.Literal(m.field.custom_key))
    return sql.SQL("{} || {}").format(base, built)


def messages_values(messages: dict[str, str]) -> sql.Composable:
    """`(code, text), ...` for a `JOIN (VALUES ...) AS msg(code, text)`."""
    return sql.SQL(", ").join(sql.SQL("({}, {})").format(sql.Literal(c), sql.Literal(t)) for c, t in messages.items())


def text_array(names: Iterable[sql.Composable]) -> sql.Composable:
    """`array_remove(ARRAY[...]::text[], NULL)`, or an empty text[] when there is nothing."""
    names = list(names)
    if not names:
        return sql.SQL("'{}'::text[]")
    return sql.SQL("array_remove(ARRAY[{}]::text[], NULL)").format(sql.SQL(", ").join(names))
