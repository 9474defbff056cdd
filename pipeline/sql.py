"""SQL building blocks every set-based import processor shares (opportunities, contacts, accounts,
linkage): raw staged values, update rules, custom_fields jsonb, reject messages.

Everything is composed with `psycopg.sql`; values are parameters, identifiers `sql.Identifier`.
"""

from __future__ import annotations

from collections.abc import Iterable

from psycopg import sql

from kernel.db import Value
from pipeline.catalog import Mapping
from pipeline.models import DataType, Reject, StagedRow, UpdateRule


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


def custom_fields_expr(maps: list[Mapping], src: str | sql.Composable, old: sql.Composable | None) -> sql.Composable:
    """custom_fields after applying each custom field's rule (null values drop the key).

    `src` names the judged row whose parsed values are the new ones, or is the new custom_fields
    object itself (`EXCLUDED.custom_fields` in an ON CONFLICT update)."""
    pairs = []
    for m in maps:
        if isinstance(src, str):
            new = sql.SQL("to_jsonb({}.{})").format(sql.Identifier(src), m.parsed)
        else:
            new = sql.SQL("({} -> {})").format(src, Value(m.field.custom_key))
        prev = sql.SQL("{} -> {}").format(old, Value(m.field.custom_key)) if old is not None else None
        value = update_rule_expr(m.rule, new, prev) if prev is not None else new
        pairs.append(sql.SQL("{}, {}").format(Value(m.field.custom_key), value))
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
        base = sql.SQL("({} - {})").format(base, Value(m.field.custom_key))
    return sql.SQL("{} || {}").format(base, built)


def messages_values(messages: dict[str, str]) -> sql.Composable:
    """`(code, text), ...` for a `JOIN (VALUES ...) AS msg(code, text)`."""
    return sql.SQL(", ").join(sql.SQL("({}, {})").format(Value(c), Value(t)) for c, t in messages.items())


REJECT_COLUMNS = ("sync_id", "record_index", "field_values", "invalid_fields", "status_code", "message")


def reject_into() -> sql.Composed:
    """`INSERT INTO <rejects> (sync_id, record_index, field_values, invalid_fields, status_code,
    message)`: the head of every statement that writes rejects (judged rows, unwritable rows, rows
    a sync ended without reaching), followed by a SELECT of those six values."""
    return sql.SQL("INSERT INTO {} ({})").format(
        sql.Identifier(Reject._meta.db_table), sql.SQL(", ").join(map(sql.Identifier, REJECT_COLUMNS))
    )


def staged_rows() -> sql.Identifier:
    return sql.Identifier(StagedRow._meta.db_table)


def insert_rejects(cursor, *, invalid_fields: sql.Composable, messages: dict[str, str], params: dict) -> int:
    """Copy the judged rows of `_rows` that carry a `code` into the sync's rejects; returns how many.

    `_rows` must have `sid` (staged row id, for the row as uploaded), `rec` (record index) and `code`;
    `invalid_fields` is a text[] expression over `r` naming the offending keys; `params` must name
    the sync and the definition."""
    cursor.execute(
        sql.SQL(
            """
            {reject_into}
            SELECT %(sync)s, r.rec, s.data, to_jsonb({invalid}), r.code, msg.text
            FROM _rows r JOIN (VALUES {messages}) AS msg(code, text) ON msg.code = r.code
            JOIN {staged} s ON s.definition_id = %(definition)s AND s.id = r.sid
            ORDER BY r.rec
            """
        ).format(
            reject_into=reject_into(), invalid=invalid_fields, messages=messages_values(messages), staged=staged_rows()
        ),
        params,
    )
    return cursor.rowcount


def text_array(names: Iterable[sql.Composable]) -> sql.Composable:
    """`array_remove(ARRAY[...]::text[], NULL)`, or an empty text[] when there is nothing."""
    names = list(names)
    if not names:
        return sql.SQL("'{}'::text[]")
    return sql.SQL("array_remove(ARRAY[{}]::text[], NULL)").format(sql.SQL(", ").join(names))


def typed_value(m: Mapping, raw: sql.Composable) -> sql.Composable:
    """The parsed value of a generic (string/number/date/boolean) field; NULL when it does not parse."""
    dt = m.field.data_type
    if dt == DataType.NUMBER:
        return sql.SQL("bulk_to_numeric({})").format(raw)
    if dt == DataType.DATE:
        return sql.SQL("bulk_to_timestamptz({})" if m.field.column is None else "bulk_to_date({})").format(raw)
    if dt == DataType.BOOLEAN:
        return sql.SQL("bulk_to_boolean({})").format(raw)
    return raw


# The HTML living standard's e-mail pattern, plus: the domain must have a dot. A query parameter
# (`%(email_re)s`, see REGEX_PARAMS): `%` inside a composed literal would clash with placeholders.
EMAIL_RE = (
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
EMAIL_MAX = 254
REGEX_PARAMS = {"email_re": EMAIL_RE}


def too_long(value: sql.Composable, max_length: int) -> sql.Composable:
    return sql.SQL("char_length({}) > {}").format(value, Value(max_length))


def email_malformed(raw: sql.Composable) -> sql.Composable:
    """Not an e-mail address. The length is judged first: no pattern runs over a megabyte."""
    return sql.SQL("(CASE WHEN {} THEN true ELSE {} !~ %(email_re)s END)").format(too_long(raw, EMAIL_MAX), raw)


def typed_malformed(m: Mapping, raw: sql.Composable, parsed: sql.Composable) -> sql.Composable | None:
    """When a generic field's value is malformed (ELQ-00032): does not parse, is not the e-mail
    address its type says, or is longer than its column or field holds. Every value a chunk writes
    is judged here (or by its processor's own rule) before anything is written, so a value that
    does not fit is a reject of its row and never a database error that fails the chunk."""
    if m.field.data_type in (DataType.NUMBER, DataType.DATE, DataType.BOOLEAN):
        return sql.SQL("({} IS NOT NULL AND {} IS NULL)").format(raw, parsed)
    if m.field.data_type == DataType.EMAIL:
        check = email_malformed(raw)
        if m.field.max_length and m.field.max_length < EMAIL_MAX:
            check = sql.SQL("({} OR {})").format(too_long(raw, m.field.max_length), check)
        return check
    if m.field.max_length:
        return too_long(raw, m.field.max_length)
    return None
