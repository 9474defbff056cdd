"""Client text through a real worker never runs as SQL (issue 22, point 1).

The audit's case first: a definition key that is SQL, and identifiers holding `%(k1)s`, the
placeholder of that key. Lane bounds are sampled from the identifiers; when they were SQL
literals, psycopg's client-side binding put the key's text into the chunk statement, the judge
statement slept in `pg_sleep` per row and the sync never ended. Then a fuzz of keys and identifiers
over real HTTP and a real worker, every value stored exactly."""

from __future__ import annotations

import os
import random

import pytest
import requests
from django.db import connection

from entities.opportunities.models import Opportunity
from tests.conftest import wait_for
from tests.factories import SiteFactory, TokenFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker_process")]

INJECTED_KEY = " OR pg_sleep(1) IS NULL OR $$a$$ ="


@pytest.fixture
def http(live_server, currencies):
    site = SiteFactory()
    token = TokenFactory(user=UserFactory(site=site))
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token.raw}"
    session.base = f"{live_server.url}/api/bulk/2.0"
    session.site = site
    return session


def sleeping_backends() -> int:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'"
        )
        return cur.fetchone()[0]


def import_and_sync(http, fields: dict, ident: str, rows: list[dict]) -> dict:
    created = http.post(
        f"{http.base}/opportunities/imports", json={"name": "x", "fields": fields, "identifierFieldName": ident}
    )
    assert created.status_code == 201, created.text
    uri = created.json()["uri"]
    staged = http.post(f"{http.base}{uri}/data", json=rows)
    assert staged.status_code == 204, staged.text
    sync = http.post(f"{http.base}/syncs", json={"syncedInstanceUri": uri})
    assert sync.status_code == 201, sync.text
    slept = []

    def ended():
        slept.append(sleeping_backends())
        status = http.get(f"{http.base}{sync.json()['uri']}").json()
        return status["status"] in ("success", "warning", "error") and status

    status = wait_for(ended, timeout=90, interval=0.1)
    assert max(slept) == 0, "a statement slept in pg_sleep: client text ran as SQL"
    return status


def test_a_key_that_is_sql_and_identifiers_naming_its_placeholder_are_only_data(http):
    fields = {
        "OpportunityID": "{{Opportunity.Id}}",
        INJECTED_KEY: "{{Opportunity.Field(Name)}}",
        "Amount": "{{Opportunity.Field(Amount)}}",
        "Stage": "{{Opportunity.Field(Stage)}}",
    }
    rows = [
        {"OpportunityID": f"x%(k1)s{i:03}", INJECTED_KEY: f"name %(k1)s {i}", "Amount": "1", "Stage": "Prospecting"}
        for i in range(80)
    ]

    status = import_and_sync(http, fields, "OpportunityID", rows)

    assert status["status"] == "success", status
    stored = dict(Opportunity.objects.filter(site=http.site).values_list("external_id", "name"))
    assert stored == {r["OpportunityID"]: r[INJECTED_KEY] for r in rows}


# Pieces of keys and identifiers: what psycopg, PostgreSQL's quoting, JSON, CSV and the statement
# grammar treat specially, and letters of other scripts.
PIECES = ["%s", "%(x)s", "%(k0)s", "%(site)s", "%(_v1)s", "%%", "%", "$$", "$1", "'", "''", '"', "\\", ";", "--",
          "/*", "*/", "{", "}", "{{", "(", ")", ",", "\t", "é", "Ж", "中", "😀", "a", "Z", "0", "_", " "]  # fmt: skip


def fuzzed(rng: random.Random, size: int) -> str:
    return "".join(rng.choice(PIECES) for _ in range(size)).strip(" ")


@pytest.mark.parametrize("seed", [int(os.environ.get("FUZZ_SEED", "0")) or 20261207, 7])
def test_fuzzed_keys_and_identifiers_are_stored_exactly(http, seed):
    rng = random.Random(seed)
    statements = ["{{Opportunity.Id}}", "{{Opportunity.Field(Name)}}", "{{Opportunity.Field(Amount)}}",
                  "{{Opportunity.Field(Stage)}}", "{{Opportunity.Field(Territory)}}",
                  "{{Opportunity.Field(AccountName)}}"]  # fmt: skip
    keys: list[str] = []
    while len(keys) < len(statements):
        key = fuzzed(rng, rng.randint(1, 8)) or "k"
        if key.lower() not in {k.lower() for k in keys}:
            keys.append(key)
    fields = dict(zip(keys, statements, strict=True))
    ident, name, amount, stage, territory, account = keys
    rows = []
    for i in range(200):
        rows.append(
            {
                ident: f"{fuzzed(rng, rng.randint(1, 6))}#{i}",
                name: fuzzed(rng, 10) or "n",
                amount: str(rng.randint(0, 10**6)),
                stage: "Prospecting",
                territory: fuzzed(rng, 5) or None,
                account: fuzzed(rng, 7) or None,
            }
        )

    status = import_and_sync(http, fields, ident, rows)

    assert status["status"] == "success", (seed, status)
    stored = {o.external_id: (o.name, o.territory, o.account_name) for o in Opportunity.objects.filter(site=http.site)}
    assert stored == {r[ident]: (r[name], r[territory], r[account]) for r in rows}, seed
