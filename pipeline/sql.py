"""SQL building blocks every set-based import processor shares (opportunities, contacts, accounts,
linkage): raw staged values, update rules, custom_fields jsonb, reject messages.

Everything is composed with `psycopg.sql`; values are parameters, identifiers `sql.Identifier`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from psycopg import sql

from kernel.db import Value
from pipeline.catalog import Mapping
from pipeline.codes import Code
from pipeline.models import DataType, Reject, StagedRow, UpdateRule
from pipeline.planner import FENCE, unindexed, without_seq_scans


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


@dataclass(frozen=True)
class Rule:
    """One way a judged row is rejected: when `when` (over the judged row `z`) holds, the row gets
    `code` and `invalid` (a text[] over `z` naming the offending keys). The first rule that holds
    judges the row. `on_match`: the rule reads the record matched (`z.match_id`: create-only,
    update-only, what a new record needs), so it is judged after the duplicate check (see `judge`)."""

    when: sql.Composable
    code: Code | str
    invalid: sql.Composable
    on_match: bool = False


@dataclass(frozen=True)
class Match:
    """How a staged row finds its record: one index probe into `table` (alias `t`) by `cond` (over
    the staged row `x`), the lowest id winning among case variants."""

    table: sql.Identifier
    cond: sql.Composable


def judge(
    cursor,
    *,
    source: sql.Composable,
    mappings: Sequence[Mapping],
    ident: Mapping,
    id_key: sql.Composable,
    parse: Callable[[Mapping], sql.Composable],
    match: Match,
    rules: Sequence[Rule],
    malformed: Sequence[tuple[Mapping, sql.Composable]],
    required: Sequence[Mapping],
    messages: dict[str, str],
    params: dict,
    joins: sql.Composable | None = None,
    staged_extra: Sequence[tuple[sql.Composable, sql.Identifier]] = (),
    parsed_extra: Sequence[tuple[sql.Composable, sql.Identifier]] = (),
    judged_extra: Sequence[tuple[sql.Composable, sql.Identifier]] = (),
    kept: Sequence[sql.Composable] = (),
    parsed_kept: Sequence[Mapping] | None = None,
) -> tuple[int, int]:
    """Judge a chunk's staged rows (`source`) into the temp table `_rows` and copy the rejected
    ones into the sync's rejects; returns (processed, rejected). Every entity's chunk is judged by
    this one statement, so a planner fix reaches every entity at once.

    The statement is nested selects, the inner ones kept whole (`FENCE`: every staged value taken out of
    the jsonb once, every array and code built once): `x` the raw values (blank is no value) and
    `staged_extra`; `y` the parsed values (`parse`, over `x` and `joins`), the record `match`ed,
    `parsed_extra` and the row's `id_key`; `z` empty, malformed and missing required values,
    `judged_extra`, the row's own `reason` (the first rule that holds of those that do not read the
    match) and its `match_reason` (the first that holds of the `on_match` rules).

    Then duplicates (ELQ-00026), judged as if the sync's rows were judged one by one in order: a
    row with no reason of its own is a duplicate when an earlier row of the sync with the same
    `id_key` was stored, that is the record this sync wrote in an earlier range (`match_sync`),
    or the chunk's first row of that key with no reason at all (byte order, `COLLATE "C"`, a
    deterministic collation's equality). A row rejected for a reason of its own never makes a
    later row a duplicate, so no row's code depends on which range, and so how many lanes, its
    earlier rows fell in. `_rows` keeps only what the writes and the rejects read (`sid`, `rec`, the
    identifier's raw value, `match_id`, `code`, `invalid`, the parsed values of `parsed_kept`
    (default: all) and `kept`): a chunk's rows are written once and read three times, and the raw copies, flags
    and arrays were most of their width.

    Each row's match is one index probe whatever the statistics say (`without_seq_scans`,
    `unindexed`): a table another lane is filling right now looks small to the planner, and a plan
    that scans it per staged row reads every row the other lane inserts, once per staged row (a
    lane's first chunk ran for minutes that way; see pipeline.planner)."""

    def columns(extra) -> sql.Composable:
        return sql.SQL("").join(sql.SQL(", {} AS {}").format(expr, alias) for expr, alias in extra)

    parsed_kept = mappings if parsed_kept is None else parsed_kept
    kept_cols = sql.SQL(", ").join(
        [sql.SQL("z.sid"), sql.SQL("z.rec"), sql.SQL("z.") + ident.raw, sql.SQL("z.match_id")]
        + [sql.SQL("z.") + m.parsed for m in parsed_kept]
        + [sql.SQL("z.") + k for k in kept]
    )
    own = [r for r in rules if not r.on_match]
    on_match = [r for r in rules if r.on_match]

    def case(chosen, pick, empty: str) -> sql.Composable:
        if not chosen:
            return sql.SQL(empty)
        return sql.SQL("CASE {} END").format(
            sql.SQL(" ").join(sql.SQL("WHEN {} THEN {}").format(r.when, pick(r)) for r in chosen)
        )

    def code(r: Rule) -> sql.Composable:
        return Value(getattr(r.code, "value", r.code))

    statement = sql.SQL(
        """
        CREATE TEMP TABLE _rows ON COMMIT DROP AS
        SELECT {kept},
          CASE WHEN z.reason IS NOT NULL THEN z.reason WHEN z.dup THEN {duplicate} ELSE z.match_reason END AS code,
          CASE WHEN z.reason IS NOT NULL THEN {own_invalid} WHEN z.dup THEN ARRAY[{id_name}]::text[]
               WHEN z.match_reason IS NOT NULL THEN {match_invalid} END AS invalid,
          CASE WHEN z.key_rows > 1 AND z.reason IS NULL THEN z.id_key END AS dup_key
        FROM (
          SELECT z.*, z.reason IS NULL AND z.match_sync = %(sync)s AS dup
          FROM (
            SELECT z.*, {own_code} AS reason, {match_code} AS match_reason
            FROM (
              SELECT y.*, {all_empty} AS empty,
                {bad} AS bad, {missing} AS missing{judged_extra}
              FROM (
                SELECT x.*, {parsed_cols}, m.id AS match_id, m.last_sync_id AS match_sync{parsed_extra},
                  {id_key} AS id_key, count(*) OVER (PARTITION BY {id_key} COLLATE "C") AS key_rows
                FROM (
                  SELECT s.sid, s.rec, {raw_cols}{staged_extra} FROM {source} s {fence}
                ) x
                {joins}
                LEFT JOIN LATERAL (
                  SELECT t.id, t.last_sync_id FROM {table} t
                  WHERE t.site_id = %(site)s AND {match_cond} ORDER BY {lowest_id} LIMIT 1
                ) m ON x.{id_raw} IS NOT NULL
              ) y {fence}
            ) z {fence}
          ) z
        ) z
        """
    ).format(
        kept=kept_cols,
        own_invalid=case(own, lambda r: r.invalid, "NULL::text[]"),
        match_invalid=case(on_match, lambda r: r.invalid, "NULL::text[]"),
        own_code=case(own, code, "NULL::text"),
        match_code=case(on_match, code, "NULL::text"),
        all_empty=sql.SQL(" AND ").join(sql.SQL("y.{} IS NULL").format(m.raw) for m in mappings),
        bad=text_array(sql.SQL("CASE WHEN {} THEN {} END").format(c, m.name) for m, c in malformed),
        missing=text_array(sql.SQL("CASE WHEN y.{} IS NULL THEN {} END").format(m.raw, m.name) for m in required),
        judged_extra=columns(judged_extra),
        parsed_cols=sql.SQL(", ").join(sql.SQL("{} AS {}").format(parse(m), m.parsed) for m in mappings),
        parsed_extra=columns(parsed_extra),
        id_key=id_key,
        raw_cols=raw_columns(mappings),
        staged_extra=columns(staged_extra),
        source=source,
        fence=FENCE,
        joins=joins or sql.SQL(""),
        table=match.table,
        match_cond=match.cond,
        lowest_id=unindexed(sql.SQL("t.id")),
        id_raw=ident.raw,
        id_name=ident.name,
        duplicate=Value(Code.DUPLICATE.value),
    )
    with without_seq_scans(cursor):
        cursor.execute(statement, params)
        processed = cursor.rowcount
    # The chunk's repeats of one key (`dup_key`: rows with no reason of their own whose key the
    # chunk holds more than once, usually none): those after the first with no reason at all are
    # duplicates. Done here, over those few rows, rather than by a window in the judge over the
    # judged rows, whose width made the judge's sort a tenth of the chunk's time.
    cursor.execute(
        sql.SQL(
            "UPDATE _rows r SET code = {duplicate}, invalid = ARRAY[{id_name}]::text[]"
            " FROM (SELECT d.sid, min(d.sid) FILTER (WHERE d.code IS NULL)"
            ' OVER (PARTITION BY d.dup_key COLLATE "C") AS first_ok FROM _rows d WHERE d.dup_key IS NOT NULL) f'
            " WHERE r.sid = f.sid AND f.sid > f.first_ok"
        ).format(duplicate=Value(Code.DUPLICATE.value), id_name=ident.name),
        params,
    )
    # Row count and the two columns the writes filter on: cheap (only two columns are sampled)
    # and enough for the planner to join by index rather than scan the whole table.
    cursor.execute("ANALYZE _rows (code, match_id)")
    rejected = insert_rejects(cursor, invalid_fields=sql.SQL("r.invalid"), messages=messages, params=params)
    return processed, rejected
