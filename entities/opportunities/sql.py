"""Set-based SQL for one chunk of an opportunity import sync.

A chunk is the staged rows of one range and lane of a sync (`pipeline.processors.staged_chunk`). Three statements do the work: build a temp
table of parsed, matched and judged rows; copy the rejected ones into the reject table; write the
valid ones (UPDATE the matched, INSERT ... ON CONFLICT the new). A rejected row never half-writes,
because it is judged whole before anything is written. Parsing lives in SQL functions created by
migration `bulkapi.0002` (bulk_to_numeric, bulk_to_date, bulk_to_timestamptz, bulk_to_boolean).
"""

from __future__ import annotations

from psycopg import sql

from entities.opportunities.models import Opportunity, Stage
from kernel.db import Value
from pipeline.catalog import Mapping
from pipeline.codes import Code, messages
from pipeline.models import ImportRule
from pipeline.planner import FENCE
from pipeline.processors import ChunkResult, ConcurrentWrite, staged_key, update_matched
from pipeline.sql import (
    REGEX_PARAMS,
    Match,
    Rule,
    custom_fields_expr,
    judge,
    key_params,
    typed_malformed,
    typed_value,
    update_rule_expr,
)

# Columns a row must give on create (ELQ-00061 otherwise).
REQUIRED_COLUMNS = ("name", "stage_id", "amount")
# Columns an empty incoming value never clears on update, whatever the update rule.
NEVER_CLEARED = (*REQUIRED_COLUMNS, "created_at")
MESSAGES = messages(
    Code.EMPTY, Code.MISSING_FIELDS, Code.DUPLICATE, Code.MALFORMED, Code.INVALID_STAGE, Code.NO_OPPORTUNITY
)


def _parse_expr(m: Mapping) -> sql.Composable:
    raw = sql.SQL("x.") + m.raw
    if m.field.column == "stage_id":
        return sql.SQL("st.id")
    if m.field.column == "currency":
        return sql.SQL("cur.code")
    if m.field.column == "created_at":
        return sql.SQL("bulk_to_timestamptz({})").format(raw)
    return typed_value(m, raw)


def _malformed(m: Mapping) -> sql.Composable | None:
    """Condition under which the row's value for `m` is malformed (ELQ-00032), or None."""
    raw, parsed = sql.SQL("y.") + m.raw, sql.SQL("y.") + m.parsed
    if m.field.column == "stage_id":
        return None  # an unknown stage is ELQ-00039, judged separately
    if m.field.column == "currency":
        return sql.SQL("({} IS NOT NULL AND {} IS NULL)").format(raw, parsed)
    return typed_malformed(m, raw, parsed)


def _rule(rule: str, new: sql.Composable, old: sql.Composable, column: str | None) -> sql.Composable:
    return update_rule_expr(rule, new, old, never_cleared=column in NEVER_CLEARED)


def lane_key(definition, mappings: list[Mapping]) -> sql.Composable:
    """Rows are spread over a sync's lanes by identifier: every row of one opportunity in one lane."""
    return staged_key(next(m for m in mappings if m.field.column == "external_id").key)


def process_chunk(
    cursor,
    *,
    sync_id: int,
    site_id: int,
    definition,
    mappings: list[Mapping],
    source: sql.Composable,
    extra: dict[str, sql.Composable] | None = None,
    record_created: bool = False,
) -> ChunkResult:
    """Judge and write the chunk's staged rows (`source`); returns the counts. Runs inside the caller's transaction.

    `extra` maps further opportunity columns to SQL over the staged row `s.data` (another door's own
    values, already validated): they are written by the same INSERT/UPDATE, not by a second pass
    over the rows just written. `record_created`: the ids of the opportunities this chunk created
    (the `created` count, exactly) are left in the temp table `_created (id)` for the caller, who
    drops it."""
    extra = extra or {}
    extra_cols = [(sql.Identifier(col), sql.Identifier(f"x_{col}"), expr) for col, expr in extra.items()]
    opp = sql.Identifier(Opportunity._meta.db_table)
    ident = next(m for m in mappings if m.field.column == "external_id")
    case_sensitive = definition.is_identifier_field_case_sensitive
    multiple = bool(definition.is_updating_multiple_matched_records)
    stage = next((m for m in mappings if m.field.column == "stage_id"), None)
    currency = next((m for m in mappings if m.field.column == "currency"), None)

    def key(expr):
        return expr if case_sensitive else sql.SQL("lower({})").format(expr)

    # Both sides of the stage match are lower-cased once (the site's few stages in a subquery kept
    # whole, the row's stage in `x`), not once per pair the join compares: that was 1.6 us a row.
    stage_join = (
        sql.SQL(
            "LEFT JOIN (SELECT id, lower(name) AS lname FROM {} WHERE site_id = %(site)s {fence}) st"
            " ON st.lname = x.stage_key"
        ).format(sql.Identifier(Stage._meta.db_table), fence=FENCE)
        if stage
        else sql.SQL("")
    )
    currency_join = (
        sql.SQL("LEFT JOIN bulkapi_currency cur ON cur.code = upper(x.{})").format(currency.raw)
        if currency
        else sql.SQL("")
    )
    match_cond = (
        sql.SQL("t.external_id = x.{}").format(ident.raw)
        if case_sensitive
        else sql.SQL("lower(t.external_id) = lower(x.{})").format(ident.raw)
    )
    # The row's stage, lower-cased once (see stage_join), and another door's own values.
    staged_extra = [(expr, alias) for _, alias, expr in extra_cols]
    if stage:
        staged_extra.append((sql.SQL("lower(btrim(s.data ->> {}))").format(stage.name), sql.Identifier("stage_key")))
    import_rule = definition.import_rule or ImportRule.CREATE_AND_UPDATE
    id_name = sql.SQL("ARRAY[{}]::text[]").format(ident.name)
    rules = [
        Rule(sql.SQL("z.empty"), Code.EMPTY, sql.SQL("'{}'::text[]")),
        Rule(sql.SQL("z.{} IS NULL").format(ident.raw), Code.MISSING_FIELDS, id_name),
        Rule(sql.SQL("cardinality(z.bad) > 0"), Code.MALFORMED, sql.SQL("z.bad")),
    ]
    if stage:
        rules.append(
            Rule(
                sql.SQL("z.{} IS NOT NULL AND z.{} IS NULL").format(stage.raw, stage.parsed),
                Code.INVALID_STAGE,
                sql.SQL("ARRAY[{}]::text[]").format(stage.name),
            )
        )
    rules += [
        Rule(
            sql.SQL("z.match_id IS NULL AND {}").format(Value(import_rule == ImportRule.UPDATE_ONLY)),
            Code.NO_OPPORTUNITY,
            id_name,
            on_match=True,
        ),
        Rule(
            sql.SQL("z.match_id IS NOT NULL AND {}").format(Value(import_rule == ImportRule.CREATE_ONLY)),
            Code.DUPLICATE,
            id_name,
            on_match=True,
        ),
        Rule(
            sql.SQL("z.match_id IS NULL AND cardinality(z.missing) > 0"),
            Code.MISSING_FIELDS,
            sql.SQL("z.missing"),
            on_match=True,
        ),
    ]
    params = {"sync": sync_id, "site": site_id, "definition": definition.pk}
    params.update(key_params(mappings), **REGEX_PARAMS)
    processed, rejected = judge(
        cursor,
        source=source,
        mappings=mappings,
        ident=ident,
        id_key=key(sql.SQL("x.") + ident.raw),
        parse=_parse_expr,
        match=Match(sql.Identifier(Opportunity._meta.db_table), match_cond),
        rules=rules,
        malformed=[(m, c) for m in mappings if (c := _malformed(m)) is not None],
        required=[m for m in mappings if m.field.column in REQUIRED_COLUMNS],
        messages=MESSAGES,
        params=params,
        joins=sql.SQL(" ").join([stage_join, currency_join]),
        staged_extra=staged_extra,
        kept=[alias for _, alias, _ in extra_cols],
        parsed_kept=[m for m in mappings if m is not ident],
    )

    columns = [m for m in mappings if m.field.column and m.field.column != "external_id"]
    customs = [m for m in mappings if m.field.custom_key]
    sets = [
        sql.SQL("{} = {}").format(
            sql.Identifier(m.field.column),
            _rule(m.rule, sql.SQL("r.") + m.parsed, sql.SQL("o.") + sql.Identifier(m.field.column), m.field.column),
        )
        for m in columns
    ]
    if customs:
        sets.append(sql.SQL("custom_fields = {}").format(custom_fields_expr(customs, "r", sql.SQL("o.custom_fields"))))
    sets += [sql.SQL("{} = r.{}").format(col, alias) for col, alias, _ in extra_cols]
    sets += [sql.SQL("updated_at = now()"), sql.SQL("last_sync_id = %(sync)s")]
    target = (
        sql.SQL("o.site_id = %(site)s AND {}").format(
            sql.SQL("o.external_id = r.{}").format(ident.raw)
            if case_sensitive
            else sql.SQL("lower(o.external_id) = lower(r.{})").format(ident.raw)
        )
        if multiple
        else sql.SQL("o.id = r.match_id")
    )
    update = sql.SQL(
        "UPDATE {opp} o SET {sets} FROM _rows r WHERE r.code IS NULL AND r.match_id IS NOT NULL AND {target}"
    ).format(opp=opp, sets=sql.SQL(", ").join(sets), target=target)
    updated = update_matched(cursor, update, params, multiple=multiple)

    created, conflicted = _insert_new(
        cursor,
        opp=opp,
        ident=ident,
        columns=columns,
        customs=customs,
        extra_cols=extra_cols,
        params=params,
        create_only=import_rule == ImportRule.CREATE_ONLY,
        record_created=record_created,
    )
    cursor.execute("DROP TABLE _rows")
    return ChunkResult(processed=processed, rejected=rejected, created=created, updated=updated + conflicted)


def _insert_new(
    cursor,
    *,
    opp,
    ident: Mapping,
    columns,
    customs,
    extra_cols,
    params,
    create_only: bool,
    record_created: bool = False,
) -> tuple[int, int]:
    """INSERT the judged rows that matched nothing; returns (created, updated).

    A row matched nothing when the chunk was judged, but another writer (an overlapping sync, a deal
    upsert) may create the same identifier before this INSERT: the row then updates that record
    through ON CONFLICT, with exactly what the update path would write (the same rules, created
    date and custom fields included), so the record holds one writer's values, the last
    committer's. `xmax = 0` tells the rows really inserted from those. Rows go in identifier order
    (C collation), the order every writer takes its keys in, so two writers never wait on each
    other's keys in opposite orders; it also keeps the identifier indexes' inserts in key order.

    A created date is written on conflict only by rows that give one (the update path keeps the
    stored one otherwise), so rows with and without one go in separate statements: without one,
    the column takes its default on insert and is left alone on conflict.

    Under `createOnly` a row must never update: a conflict there means the chunk was judged before
    another writer created the record, so the chunk runs again (`ConcurrentWrite`) and then rejects
    the row as a duplicate (ELQ-00026)."""
    created_map = next((m for m in columns if m.field.column == "created_at"), None)
    groups = [None] if created_map is None else [True, False]
    record = sql.SQL("")
    if record_created:
        cursor.execute("CREATE TEMP TABLE _created (id bigint) ON COMMIT DROP")
        record = sql.SQL(", c AS (INSERT INTO _created (id) SELECT id FROM i WHERE fresh)")
    created = updated = 0
    for with_date in groups:
        insert_cols = [sql.Identifier("site_id"), sql.Identifier("external_id")]
        insert_vals = [sql.SQL("%(site)s"), sql.SQL("r.") + ident.raw]
        conflict_sets = []
        for m in columns:
            if m is created_map and not with_date:
                continue
            column = sql.Identifier(m.field.column)
            insert_cols.append(column)
            insert_vals.append(sql.SQL("r.") + m.parsed)
            conflict_sets.append(
                sql.SQL("{} = {}").format(
                    column, _rule(m.rule, sql.SQL("EXCLUDED.") + column, sql.SQL("o.") + column, m.field.column)
                )
            )
        if customs:
            insert_cols.append(sql.Identifier("custom_fields"))
            insert_vals.append(custom_fields_expr(customs, "r", None))
            conflict_sets.append(
                sql.SQL("custom_fields = {}").format(
                    custom_fields_expr(customs, sql.SQL("EXCLUDED.custom_fields"), sql.SQL("o.custom_fields"))
                )
            )
        for col, alias, _ in extra_cols:
            insert_cols.append(col)
            insert_vals.append(sql.SQL("r.") + alias)
            conflict_sets.append(sql.SQL("{0} = EXCLUDED.{0}").format(col))
        insert_cols.append(sql.Identifier("last_sync_id"))
        insert_vals.append(sql.SQL("%(sync)s"))
        conflict_sets += [sql.SQL("updated_at = now()"), sql.SQL("last_sync_id = EXCLUDED.last_sync_id")]
        which = sql.SQL("")
        if with_date is not None:
            which = sql.SQL(" AND r.{} IS {}NULL").format(created_map.parsed, sql.SQL("NOT " if with_date else ""))
        cursor.execute(
            sql.SQL(
                """
                WITH i AS (
                  INSERT INTO {opp} AS o ({cols})
                  SELECT {vals} FROM _rows r WHERE r.code IS NULL AND r.match_id IS NULL{which}
                  ORDER BY r.{ident} COLLATE "C"
                  ON CONFLICT {on_conflict}
                  RETURNING o.id, (o.xmax = 0) AS fresh
                ){record}
                SELECT count(*) FILTER (WHERE fresh), count(*) FILTER (WHERE NOT fresh),
                       (SELECT count(*) FROM _rows r WHERE r.code IS NULL AND r.match_id IS NULL{which})
                FROM i
                """
            ).format(
                opp=opp,
                cols=sql.SQL(", ").join(insert_cols),
                vals=sql.SQL(", ").join(insert_vals),
                which=which,
                record=record,
                ident=ident.raw,
                on_conflict=sql.SQL("DO NOTHING")
                if create_only
                else sql.SQL("(site_id, external_id) DO UPDATE SET {}").format(sql.SQL(", ").join(conflict_sets)),
            ),
            params,
        )
        fresh, stale, candidates = cursor.fetchone()
        if fresh + stale != candidates:
            raise ConcurrentWrite(f"{candidates - fresh - stale} identifiers created by another writer meanwhile")
        created += fresh
        updated += stale
    return created, updated
