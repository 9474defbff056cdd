"""No text a client sent is ever part of SQL text (issue 22, point 1).

Three guards:
- `kernel.db` itself: a composed statement's `Value`s travel as parameters, and `%` in any literal
  or identifier text is doubled before client-side binding.
- A lint of the code: no `sql.Literal` anywhere but `kernel.db`, and no statement text built by
  f-strings, `%` or `str.format` (`execute`, `executemany`, `copy`, `sql.SQL`).
- The statements a real import runs, door by door, watched as they are sent: definition keys,
  identifiers and values carrying a marker plus every character psycopg or PostgreSQL treat
  specially (`%s`, `%(x)s`, `%%`, `$$`, `'`, `\\`) never appear in a statement's text, and are
  stored exactly.
"""

from __future__ import annotations

import ast
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from psycopg import sql

from entities.contacts.models import Account, Contact
from entities.linkage.models import OpportunityContact
from entities.opportunities.models import Opportunity
from kernel import db as bulkdb
from kernel.db import Value, bind
from pipeline.models import Reject
from pipeline.staging import staged_rows_load_csv
from tests.hardening.helpers import define
from tests.pipeline.helpers import run_sync, stage

ROOT = Path(__file__).resolve().parents[2]
# What psycopg's client-side binding or PostgreSQL's quoting treat specially.
NASTY = ["%s", "%(x)s", "%%", "$$", "'", "\\", "%(k1)s", "%(site)s", "%(_v0)s", "%", '"', ";--"]
MARK = "xyzzy"


# --- kernel.db ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_values_are_parameters_and_literal_percent_signs_never_become_placeholders():
    with connection.cursor() as cur:
        statement = sql.SQL("SELECT {}, {}, %(k)s, {}").format(Value("a%(k)s'$$\\"), Value(7), sql.Literal("b%(k)s"))
        text, params = bind(statement, {"k": "K"}, cur.cursor)
        assert "a%(k)s" not in text and "'b%%(k)s'" in text
        cur.cursor.execute(statement, {"k": "K"})
        assert cur.fetchone() == ("a%(k)s'$$\\", 7, "K", "b%(k)s")
        # Without parameters nothing is parsed, and nothing is doubled.
        cur.cursor.execute(sql.SQL("SELECT {}").format(sql.Literal("50%")))
        assert cur.fetchone() == ("50%",)


@pytest.mark.django_db
def test_a_statement_with_values_refuses_positional_parameters():
    with connection.cursor() as cur, pytest.raises(TypeError, match="by name"):
        cur.cursor.execute(sql.SQL("SELECT {}, %s").format(Value(1)), [2])


# --- the lint ---------------------------------------------------------------------------------------

EXECUTORS = {"execute", "executemany", "copy", "SQL"}


def _built_text(node: ast.AST) -> bool:
    """Text made at run time by formatting: an f-string, `%`, `+` with a non-constant, `.format()`."""
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
        return not (isinstance(node.left, ast.Constant) and isinstance(node.right, ast.Constant))
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
        and isinstance(node.func.value, (ast.Constant, ast.JoinedStr))
    )


def sql_text_violations(source: str, filename: str) -> list[str]:
    """Where `source` puts text in SQL other than through parameters and `sql.Identifier`."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Attribute) and node.attr == "Literal":
            found.append(f"{filename}:{node.lineno}: sql.Literal (use kernel.db.Value)")
        elif isinstance(node, ast.ImportFrom) and node.module == "psycopg.sql":
            if any(alias.name == "Literal" for alias in node.names):
                found.append(f"{filename}:{node.lineno}: imports Literal")
        elif isinstance(node, ast.Call) and node.args:
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if name in EXECUTORS and _built_text(node.args[0]):
                found.append(f"{filename}:{node.lineno}: {name}() of text built by formatting")
    return found


def app_sources() -> list[Path]:
    skip = {".venv", ".git", ".run", "tests", "migrations", "node_modules", "staticfiles"}
    return [
        path
        for path in sorted(ROOT.rglob("*.py"))
        if not skip.intersection(path.relative_to(ROOT).parts) and path.parent != ROOT / "kernel" / "db"
    ]


def test_no_code_puts_text_in_sql_but_through_parameters():
    sources = app_sources()
    assert len(sources) > 100 and ROOT / "pipeline" / "processors.py" in sources
    violations = [v for path in sources for v in sql_text_violations(path.read_text(), str(path.relative_to(ROOT)))]
    assert violations == []


@pytest.mark.parametrize(
    "snippet",
    [
        "sql.SQL('x = {}').format(sql.Literal(value))",
        "from psycopg.sql import Literal",
        "cur.execute(f'SELECT {name}')",
        "cur.execute('SELECT %s' % name)",
        "cur.execute('SELECT ' + name)",
        "cur.copy('COPY {} FROM STDIN'.format(table))",
        "sql.SQL(f'lower({column})')",
    ],
)
def test_the_lint_finds_each_way_of_building_sql_text(snippet):
    assert sql_text_violations(snippet, "snippet.py")


def test_the_lint_lets_composed_statements_and_parameters_pass():
    ok = "cur.execute(sql.SQL('SELECT {} FROM {}').format(Value(v), sql.Identifier(t)), {'a': 1})\ncur.execute(Q, [x])"
    assert sql_text_violations(ok, "ok.py") == []


# --- the statements real imports run ---------------------------------------------------------------


@pytest.fixture
def watched():
    """Every statement text this process sends while the test runs (parameters not bound in)."""
    seen: list[str] = []
    bulkdb.STATEMENT_OBSERVERS.append(seen.append)
    yield seen
    bulkdb.STATEMENT_OBSERVERS.remove(seen.append)


def nasty(i: int) -> str:
    return f"{MARK}{NASTY[i % len(NASTY)]}{i}"


def assert_no_client_text(seen: list[str]) -> None:
    assert seen, "no statement was watched"
    leaked = [text for text in seen if MARK in text]
    assert leaked == [], leaked[0][:500]


def opportunity_fields() -> dict:
    return {
        f"{MARK}%(k1)s id": "{{Opportunity.Id}}",
        " OR pg_sleep(1) IS NULL OR $$a$$ =": "{{Opportunity.Field(Name)}}",
        f"{MARK}'amount\\": "{{Opportunity.Field(Amount)}}",
        f"{MARK}%s stage": "{{Opportunity.Field(Stage)}}",
        f"{MARK}$$territory%%": "{{Opportunity.Field(Territory)}}",
    }


@pytest.mark.parametrize("body", ["json", "csv"])
def test_an_opportunity_import_sends_no_client_text_and_stores_it_exactly(site, watched, settings, body):
    settings.BULK_SYNC_LANES = 2
    fields = opportunity_fields()
    ident, name, amount, stage_key, territory = fields
    definition = define(site, "opportunity", fields, ident)
    rows = [
        {ident: nasty(i), name: nasty(i + 1000), amount: "12.5", stage_key: "Prospecting", territory: nasty(i + 7)}
        for i in range(120)
    ]
    if body == "json":
        stage(definition, rows)
    else:
        out = io.StringIO()
        import csv

        writer = csv.writer(out)
        writer.writerow(fields)
        writer.writerows([row[k] for k in fields] for row in rows)
        raw = out.getvalue().encode()
        staged_rows_load_csv(definition=definition, stream=io.BytesIO(raw), content_length=len(raw))

    sync = run_sync(definition)

    assert sync.status == "success" and sync.lanes == 2 and sync.lane_bounds
    assert any(MARK in bound for bound in sync.lane_bounds)  # the bounds are the client's own text
    stored = dict(Opportunity.objects.filter(site=site).values_list("external_id", "name"))
    assert stored == {row[ident]: row[name] for row in rows}
    assert set(Opportunity.objects.filter(site=site).values_list("territory", flat=True)) == {
        row[territory] for row in rows
    }
    assert_no_client_text(watched)


def test_contact_and_account_imports_send_no_client_text_and_store_it_exactly(site, watched):
    account_fields = {
        f"{MARK}%(x)s ext": "{{Account.Field(CompanyIDExt)}}",
        f"{MARK}' name": "{{Account.Field(M_CompanyName)}}",
    }
    ext, name = account_fields
    accounts = define(site, "account", account_fields, ext)
    account_rows = [{ext: nasty(i), name: nasty(i + 50)} for i in range(30)]
    assert run_sync(accounts, account_rows).status == "success"
    assert dict(Account.objects.filter(site=site).values_list("external_id", "name")) == {
        r[ext]: r[name] for r in account_rows
    }

    contact_fields = {
        f"{MARK}$$ext": "{{Contact.Field(ContactIDExt)}}",
        f"{MARK}%s last": "{{Contact.Field(C_LastName)}}",
        f"{MARK}\\company": "{{Contact.Account.Field(CompanyIDExt)}}",
    }
    cext, last, company = contact_fields
    contacts = define(site, "contact", contact_fields, cext)
    contact_rows = [{cext: nasty(i), last: nasty(i + 9), company: account_rows[i][ext]} for i in range(30)]
    assert run_sync(contacts, contact_rows).status == "success"
    stored = {c.external_id: (c.last_name, c.account.external_id) for c in Contact.objects.filter(site=site)}
    assert stored == {r[cext]: (r[last], r[company]) for r in contact_rows}
    assert_no_client_text(watched)


def test_a_linkage_import_sends_no_client_text_and_links_exactly(site, watched, settings):
    settings.BULK_SYNC_LANES = 2
    from tests.entities.contacts.factories import ContactFactory
    from tests.entities.linkage.helpers import link_definition
    from tests.factories import OpportunityFactory

    opportunities = [OpportunityFactory(site=site, external_id=nasty(i)) for i in range(90)]
    contact = ContactFactory(site=site, email="ann@example.com")
    keys = {
        f"{MARK}%(k0)s email": "{{Opportunity.Contact.Field(C_EmailAddress)}}",
        f"{MARK}'opp$$": "{{Opportunity.Id}}",
    }
    email, opp = keys
    definition = link_definition(site, fields=keys)
    sync = run_sync(definition, [{email: "ann@example.com", opp: o.external_id} for o in opportunities])
    assert sync.status == "success"
    linked = set(OpportunityContact.objects.filter(contact=contact).values_list("opportunity__external_id", flat=True))
    assert linked == {o.external_id for o in opportunities}
    assert_no_client_text(watched)


def test_rejects_keep_the_rows_exactly(site, watched):
    fields = opportunity_fields()
    ident, name, amount, stage_key, _ = fields
    definition = define(site, "opportunity", fields, ident)
    rows = [
        {ident: nasty(i), name: nasty(i), amount: f"not a number {nasty(i)}", stage_key: "Prospecting"}
        for i in range(5)
    ]
    sync = run_sync(definition, rows)
    assert sync.status == "warning"
    assert sorted(
        Reject.objects.filter(sync=sync).values_list("field_values", flat=True), key=lambda v: v[ident]
    ) == sorted(rows, key=lambda r: r[ident])
    assert_no_client_text(watched)


def test_the_batch_door_sends_no_client_text_and_stores_it_exactly(api, watched):
    from tests.doors.batch.helpers import rows_csv, upload
    from tests.pipeline.helpers import drive

    references = [nasty(i).replace('"', "q") for i in range(40)]
    csv_rows = [
        f'2026-01-0{1 + i % 9}T10:00:00Z,GBP,10.00,Proposal,a{i}@example.com,"{ref}"'
        for i, ref in enumerate(references)
    ]
    response = upload(api, rows_csv(*csv_rows))
    assert response.status_code in (200, 201, 202), response.content
    from doors.batch.models import BatchJob

    job = BatchJob.objects.get(site=api.site)
    drive(job.sync_id)
    assert set(Opportunity.objects.filter(site=api.site).values_list("external_id", flat=True)) == set(references)
    assert_no_client_text(watched)


def test_the_deal_upsert_sends_no_client_text_and_stores_it_exactly(api, watched):
    deals = [
        {"externalDealId": nasty(i), "name": nasty(i + 3), "amount": 5, "stageLabel": nasty(i + 4)} for i in range(20)
    ]
    response = api.post("/api/v1/deals", {"deals": deals}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["summary"]["upserted"] == 20
    stored = {o.external_id: (o.name, o.amount, o.stage.name) for o in Opportunity.objects.filter(site=api.site)}
    assert stored == {d["externalDealId"]: (d["name"], Decimal(5), d["stageLabel"]) for d in deals}
    assert_no_client_text(watched)


def test_json_keys_round_trip_through_the_definition_api(api, watched):
    fields = opportunity_fields()
    ident = next(iter(fields))
    body = {"name": nasty(1), "fields": fields, "identifierFieldName": ident}
    response = api.post("/api/bulk/2.0/opportunities/imports", json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    assert response.json()["fields"] == fields
    assert_no_client_text(watched)
