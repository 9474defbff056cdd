"""Set-based SQL for one chunk of a contact or account import sync.

The same shape as the opportunity sync (entities/opportunities/sql.py): one temp table judges every staged
row of the chunk (parse, match, validate, reject code), rejected rows go to the reject table, the
valid ones are written with one UPDATE (matched) and one INSERT (new). A rejected row never
half-writes. Contacts and accounts differ only in the `Target` that describes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from entities.contacts.models import Account, Contact
from kernel.db import Value
from pipeline.catalog import Mapping
from pipeline.codes import Code, messages
from pipeline.models import ImportRule
from pipeline.processors import ChunkResult, ConcurrentWrite, update_matched
from pipeline.sql import REGEX_PARAMS as SHARED_REGEX_PARAMS
from pipeline.sql import (
    Match,
    Rule,
    custom_fields_expr,
    email_malformed,
    judge,
    key_params,
    too_long,
    typed_malformed,
    typed_value,
    update_rule_expr,
)

# Loose: digits, spaces, + ( ) . - /, an optional extension; at least three digits (checked apart).
PHONE_RE = r"^\+?[0-9 ().\-/]{3,40}(\s*(x|ext\.?)\s*[0-9]{1,6})?$"
UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
DOMAIN_RE = r"^[^\s.@/]+(\.[^\s.@/]+)+$"

# Patterns go in as query parameters: `%` inside a composed literal would clash with placeholders.
REGEX_PARAMS = {**SHARED_REGEX_PARAMS, "phone_re": PHONE_RE, "uuid_re": UUID_RE, "domain_re": DOMAIN_RE}

ACCOUNT_MISSING = Code.NO_ACCOUNT.pair
ACCOUNT_AMBIGUOUS = Code.DUPLICATE_ACCOUNT_LINK.pair
CONTACT_MISSING = Code.NO_CONTACT.pair
MESSAGES = messages(
    Code.EMPTY,
    Code.MISSING_FIELDS,
    Code.DUPLICATE,
    Code.MALFORMED,
    Code.NO_CONTACT,
    Code.NO_ACCOUNT,
    Code.DUPLICATE_ACCOUNT_LINK,
)

# How a contact's `{{Contact.Account.…}}` value finds its account (`a`), by statement: the external id
# exactly (unique per site), the company name ignoring case (several accounts may share one: the
# row is then ambiguous), the id as a uuid (a value that is not one is malformed).
ACCOUNT_MATCH = {
    "contact.account.field(companyidext)": "a.external_id = {raw}",
    "contact.account.field(m_companyname)": "lower(a.name) = lower({raw})",
    "contact.account.id": "a.uuid = {uuid}",
}


@dataclass(frozen=True)
class Target:
    model: type
    missing: tuple[str, str]  # code and message when a row must match a record and does not
    required_on_create: tuple[str, ...] = ()
    never_cleared: tuple[str, ...] = ()
    unique_columns: tuple[str, ...] = ("external_id",)  # besides the identifier: taken => ELQ-00026

    @property
    def table(self) -> sql.Identifier:
        return sql.Identifier(self.model._meta.db_table)


CONTACT_TARGET = Target(Contact, CONTACT_MISSING, unique_columns=("email", "external_id"))
ACCOUNT_TARGET = Target(Account, ACCOUNT_MISSING, required_on_create=("name",), never_cleared=("name",))


def domain_sql(raw: sql.Composable) -> sql.Composable:
    """entities.contacts.domains.normalise_domain in SQL: lower case; no scheme, path, user info, port, dots, www."""
    return sql.SQL(
        "NULLIF(regexp_replace(btrim(regexp_replace(regexp_replace(regexp_replace(regexp_replace("
        "lower(btrim({})), '^[a-z][a-z0-9+.-]*://', ''), '[/?#].*$', ''), '^.*@', ''), ':.*$', ''), '.'),"
        " '^www\\.', ''), '')"
    ).format(raw)


def uuid_sql(raw: sql.Composable) -> sql.Composable:
    return sql.SQL("CASE WHEN {0} ~* {1} THEN {0}::uuid END").format(raw, sql.Placeholder("uuid_re"))


def _account_alias(m: Mapping) -> sql.Identifier:
    return sql.Identifier(f"acc{m.index}")


def _account_join(m: Mapping) -> sql.Composable:
    """The account a `{{Contact.Account.…}}` value names: `accN.id` when exactly one matches, and
    `accN.n` how many do (0, 1, or 2 for 'more than one'), by one index probe per row."""
    raw = sql.SQL("x.") + m.raw
    cond = sql.SQL(ACCOUNT_MATCH[m.field.key]).format(raw=raw, uuid=uuid_sql(raw))
    return sql.SQL(
        "LEFT JOIN LATERAL (SELECT min(a.id) AS id, count(*) AS n FROM (SELECT a.id FROM {table} a"
        " WHERE a.site_id = %(site)s AND {cond} LIMIT 2) a) {alias} ON {raw} IS NOT NULL"
    ).format(table=sql.Identifier(Account._meta.db_table), cond=cond, alias=_account_alias(m), raw=raw)


def _account_matches(m: Mapping) -> sql.Identifier:
    return sql.Identifier(f"an{m.index}")


def _parse(m: Mapping) -> sql.Composable:
    raw = sql.SQL("x.") + m.raw
    column = m.field.column
    if column == "account_id":
        return sql.SQL("CASE WHEN {0}.n = 1 THEN {0}.id END").format(_account_alias(m))
    if column == "domain":
        return domain_sql(raw)
    if column == "uuid":
        return uuid_sql(raw)
    return typed_value(m, raw)


def _malformed(m: Mapping) -> sql.Composable | None:
    """Condition under which the row's value for `m` is malformed (ELQ-00032), or None. What is
    judged is what would be written (a domain is stored normalised), against its column's width,
    with the length judged before any pattern so none runs over a megabyte."""
    raw, parsed = sql.SQL("y.") + m.raw, sql.SQL("y.") + m.parsed
    column = m.field.column
    if column == "account_id":  # an unknown or ambiguous account has its own code; a bad id is malformed
        if m.field.key != "contact.account.id":
            return None
        return sql.SQL("({} IS NOT NULL AND {} IS NULL)").format(raw, uuid_sql(raw))
    if column == "uuid":
        return sql.SQL("({} IS NOT NULL AND {} IS NULL)").format(raw, parsed)
    if column == "domain":
        return sql.SQL("({} IS NOT NULL AND (CASE WHEN {} IS NULL OR {} THEN true ELSE {} !~ {} END))").format(
            raw, parsed, too_long(parsed, m.field.max_length), parsed, sql.Placeholder("domain_re")
        )
    if column == "email":
        return email_malformed(raw)
    if column == "phone":
        return sql.SQL(
            "(CASE WHEN {} THEN true ELSE {} !~* {} OR char_length(regexp_replace({}, '[^0-9]', '', 'g')) < 3 END)"
        ).format(too_long(raw, m.field.max_length), raw, sql.Placeholder("phone_re"), raw)
    return typed_malformed(m, raw, parsed)


def _same(column: str, record: sql.Composable, value: sql.Composable, case_sensitive: bool) -> sql.Composable:
    """`record` matches `value` on `column`: e-mail always ignores case; uuid is exact."""
    if column == "email":
        return sql.SQL("(lower({0}) = lower({1}) AND {0} IS NOT NULL)").format(record, value)
    if column == "uuid" or case_sensitive:
        return sql.SQL("{} = {}").format(record, value)
    return sql.SQL("lower({}) = lower({})").format(record, value)


def process_chunk(
    cursor,
    *,
    target: Target,
    sync_id: int,
    site_id: int,
    definition,
    mappings: list[Mapping],
    source: sql.Composable,
) -> ChunkResult:
    """Judge and write the chunk's staged rows (`source`) into `target`; runs inside the caller's transaction."""
    table = target.table
    ident = next(m for m in mappings if m.key == definition.identifier_field_name)
    id_col = ident.field.column
    case_sensitive = definition.is_identifier_field_case_sensitive
    multiple = bool(definition.is_updating_multiple_matched_records)
    import_rule = definition.import_rule or ImportRule.CREATE_AND_UPDATE

    def key(column: str, expr: sql.Composable) -> sql.Composable:
        if column == "email" or (column != "uuid" and not case_sensitive and column == id_col):
            return sql.SQL("lower({})").format(expr)
        if column == "uuid":  # one record however its uuid is written (case, braces, dashes)
            return sql.SQL("COALESCE(({})::text, {})").format(uuid_sql(expr), expr)
        return expr

    id_value = uuid_sql(sql.SQL("x.") + ident.raw) if id_col == "uuid" else sql.SQL("x.") + ident.raw
    match_cond = _same(id_col, sql.SQL("t.") + sql.Identifier(id_col), id_value, case_sensitive)
    accounts = [m for m in mappings if m.field.column == "account_id"]
    account_joins = sql.SQL(" ").join(_account_join(m) for m in accounts)
    uniques = [m for m in mappings if m.field.column in target.unique_columns and m is not ident]
    unique_cols = [
        (
            sql.SQL("(x.{raw} IS NOT NULL AND row_number() OVER (PARTITION BY {k} ORDER BY x.sid) > 1)").format(
                raw=m.raw, k=key(m.field.column, sql.SQL("x.") + m.raw)
            ),
            sql.Identifier(f"u{m.index}"),
        )
        for m in uniques
    ]
    account_counts = [(sql.SQL("{}.n").format(_account_alias(m)), _account_matches(m)) for m in accounts]
    taken = [
        (
            m,
            sql.SQL(
                "(y.{u} OR (y.{raw} IS NOT NULL AND EXISTS (SELECT 1 FROM {table} t WHERE t.site_id = %(site)s"
                " AND {same} AND t.id IS DISTINCT FROM y.match_id)))"
            ).format(
                u=sql.Identifier(f"u{m.index}"),
                raw=m.raw,
                table=table,
                same=_same(m.field.column, sql.SQL("t.") + sql.Identifier(m.field.column), sql.SQL("y.") + m.raw, True),
            ),
        )
        for m in uniques
    ]
    malformed = [(m, c) for m in mappings if (c := _malformed(m)) is not None]
    required = [m for m in mappings if m.field.column in target.required_on_create]
    missing_required = [c for c in target.required_on_create if not any(m.field.column == c for m in mappings)]
    id_name = sql.SQL("ARRAY[{}]::text[]").format(ident.name)
    must_match = import_rule == ImportRule.UPDATE_ONLY or id_col == "uuid"
    # (condition on z, code, invalid fields[, on_match]): see pipeline.sql.Rule.
    rules = [
        (sql.SQL("z.empty"), Code.EMPTY, sql.SQL("'{}'::text[]")),
        (sql.SQL("z.{} IS NULL").format(ident.raw), Code.MISSING_FIELDS, id_name),
        (sql.SQL("cardinality(z.bad) > 0"), Code.MALFORMED, sql.SQL("z.bad")),
    ]
    for m in accounts:
        rules += [
            (
                sql.SQL("z.{} > 1").format(_account_matches(m)),
                ACCOUNT_AMBIGUOUS[0],
                sql.SQL("ARRAY[{}]::text[]").format(m.name),
            ),
            (
                sql.SQL("z.{} IS NOT NULL AND z.{} IS NULL").format(m.raw, m.parsed),
                ACCOUNT_MISSING[0],
                sql.SQL("ARRAY[{}]::text[]").format(m.name),
            ),
        ]
    rules += [
        (
            sql.SQL("z.{}").format(sql.Identifier(f"t{m.index}")),
            Code.DUPLICATE,
            sql.SQL("ARRAY[{}]::text[]").format(m.name),
        )
        for m in uniques
    ]
    rules += [
        (sql.SQL("z.match_id IS NULL AND {}").format(Value(must_match)), target.missing[0], id_name, True),
        (
            sql.SQL("z.match_id IS NOT NULL AND {}").format(Value(import_rule == ImportRule.CREATE_ONLY)),
            Code.DUPLICATE,
            id_name,
            True,
        ),
        (
            sql.SQL("z.match_id IS NULL AND (cardinality(z.missing) > 0 OR {})").format(Value(bool(missing_required))),
            Code.MISSING_FIELDS,
            sql.SQL("CASE WHEN cardinality(z.missing) > 0 THEN z.missing ELSE {} END").format(id_name),
            True,
        ),
    ]
    params = {"sync": sync_id, "site": site_id, "definition": definition.pk}
    params.update(key_params(mappings), **REGEX_PARAMS)
    processed, rejected = judge(
        cursor,
        source=source,
        mappings=mappings,
        ident=ident,
        id_key=key(id_col, sql.SQL("x.") + ident.raw),
        parse=_parse,
        match=Match(table, match_cond),
        rules=[Rule(*r) for r in rules],
        malformed=malformed,
        required=required,
        messages=MESSAGES,
        params=params,
        joins=account_joins,
        parsed_extra=unique_cols + account_counts,
        judged_extra=[(c, sql.Identifier(f"t{m.index}")) for m, c in taken],
    )

    columns = [m for m in mappings if m.field.column and m.field.column != "uuid"]
    customs = [m for m in mappings if m.field.custom_key]
    sets = [
        sql.SQL("{} = {}").format(
            sql.Identifier(m.field.column),
            update_rule_expr(
                m.rule,
                sql.SQL("r.") + m.parsed,
                sql.SQL("t.") + sql.Identifier(m.field.column),
                never_cleared=m.field.column in target.never_cleared,
            ),
        )
        for m in columns
        if m is not ident
    ]
    if customs:
        sets.append(sql.SQL("custom_fields = {}").format(custom_fields_expr(customs, "r", sql.SQL("t.custom_fields"))))
    sets += [sql.SQL("updated_at = now()"), sql.SQL("last_sync_id = %(sync)s")]
    where = (
        _same(
            id_col,
            sql.SQL("t.") + sql.Identifier(id_col),
            sql.SQL("r.") + (ident.parsed if id_col == "uuid" else ident.raw),
            case_sensitive,
        )
        if multiple
        else sql.SQL("t.id = r.match_id")
    )
    update = sql.SQL(
        "UPDATE {table} t SET {sets} FROM _rows r WHERE r.code IS NULL AND r.match_id IS NOT NULL"
        " AND t.site_id = %(site)s AND {where}"
    ).format(table=table, sets=sql.SQL(", ").join(sets), where=where)
    try:
        updated = update_matched(cursor, update, params, multiple=multiple)
    except psycopg.errors.UniqueViolation:
        # The judging saw every unique value of the chunk free (`taken`), so another writer has taken
        # one since: run the chunk again, which then rejects that row as a duplicate (ELQ-00026).
        raise ConcurrentWrite("a unique value taken by another writer meanwhile") from None

    insert_cols = [sql.Identifier("site_id")] + [sql.Identifier(m.field.column) for m in columns]
    insert_vals = [sql.SQL("%(site)s")] + [sql.SQL("r.") + m.parsed for m in columns]
    if customs:
        insert_cols.append(sql.Identifier("custom_fields"))
        insert_vals.append(custom_fields_expr(customs, "r", None))
    insert_cols.append(sql.Identifier("last_sync_id"))
    insert_vals.append(sql.SQL("%(sync)s"))
    # Contacts and accounts have several unique keys (e-mail, external id), so an INSERT cannot
    # turn a conflict into the right update: a row whose key another writer created since the
    # chunk was judged makes the chunk run again (`ConcurrentWrite`), and then match that record.
    cursor.execute(
        sql.SQL(
            "WITH i AS (INSERT INTO {table} ({cols}) SELECT {vals} FROM _rows r"
            " WHERE r.code IS NULL AND r.match_id IS NULL ORDER BY r.sid ON CONFLICT DO NOTHING RETURNING 1)"
            " SELECT (SELECT count(*) FROM i), (SELECT count(*) FROM _rows r WHERE r.code IS NULL AND r.match_id IS NULL)"
        ).format(table=table, cols=sql.SQL(", ").join(insert_cols), vals=sql.SQL(", ").join(insert_vals)),
        params,
    )
    created, candidates = cursor.fetchone()
    if created != candidates:
        raise ConcurrentWrite(
            f"{candidates - created} {target.model.__name__} keys created by another writer meanwhile"
        )
    cursor.execute("DROP TABLE _rows")
    return ChunkResult(processed=processed, rejected=rejected, created=created, updated=updated)


def finish_logs(created: tuple[str, str], updated: tuple[str, str]):
    """The entity's created/updated log entries (reference 10: ELQ-00004/00022, ELQ-00005/00023)."""

    def logs(sync) -> list:
        from pipeline.models import Severity, SyncLog

        return [
            SyncLog(sync=sync, status_code=created[0], message=created[1], count=sync.created_count,
                    severity=Severity.INFORMATION),
            SyncLog(sync=sync, status_code=updated[0], message=updated[1], count=sync.updated_count,
                    severity=Severity.INFORMATION),
        ]  # fmt: skip

    return logs
