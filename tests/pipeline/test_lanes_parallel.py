"""A sync's lanes on real concurrent workers (two `celery worker` processes of two pool processes
each), not driven round-robin in one process: the same rows imported with one lane and with three
lanes in flight at once store the same records, reject the same rows for the same reasons and count
the same, whatever the identifiers look like (case, blanks, non-ASCII letters, empty, at the size
limit, all equal, equal to a lane bound but for case).

Lanes in flight at once, for sure: before the sync starts, a connection of the test inserts, without
committing, the identifiers every lane will create after range 0 (which lane 0 runs alone). Each
lane's chunk then waits on one of them with its own rows written but not committed; the test waits
until every lane waits at once, then rolls that connection back and the lanes go on. Run in turn,
a lane would see the other lanes' records committed (and reject a case variant of one as a
duplicate); run at once, it sees none of them, so one identifier's rows in two lanes would be
stored twice. Which is the point: identifiers that are equal must never be in two lanes."""

import random
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connection

from entities.opportunities.catalog import OPPORTUNITY_FIELDS
from entities.opportunities.models import Opportunity
from pipeline.codes import Code
from pipeline.models import Reject, Sync
from tests.concurrency import conninfo
from tests.conftest import WorkerProcess, wait_for
from tests.factories import ImportDefinitionFactory, SiteFactory
from tests.pipeline.helpers import stage, staged_sync

pytestmark = pytest.mark.django_db(transaction=True)

LANES = 3
CHUNK, FIRST = 20, 10  # ranges of LANES * CHUNK rows, range 0 of FIRST rows
# The identifier's size limit: the catalog's length for external_id (longer is ELQ-00032).
LIMIT = next(f.max_length for f in OPPORTUNITY_FIELDS if f.column == "external_id")


@pytest.fixture(scope="module")
def workers(django_db_setup, django_db_blocker):
    """Two worker processes of two pool processes each: four chunks may run at once."""
    started = []
    try:
        started.append(WorkerProcess(concurrency=2))
        started.append(WorkerProcess(concurrency=2))
        yield started
    finally:
        for worker in started:
            worker.stop()


def row(rec: int, ident, **kw) -> dict:
    out = {"OpportunityName": f"Deal {rec}", "Amount": str(rec), "Stage": "Proposal"}
    if ident is not ...:  # `...`: no identifier key at all
        out["OpportunityID"] = ident
    out.update(kw)
    return out


def rows_of(idents: list) -> list[dict]:
    return [row(rec, ident) for rec, ident in enumerate(idents, start=1)]


def db_lower(values) -> dict[str, str]:
    """What the database's lower() makes of each value: a case-insensitive definition matches by it
    (its letters beyond ASCII are the database's locale's, not Python's)."""
    with connection.cursor() as cur:
        cur.execute("SELECT x, lower(x) FROM unnest(%s::text[]) x", [sorted(set(values))])
        return dict(cur.fetchall())


def expected(rows: list[dict], *, case_sensitive: bool = False) -> tuple[dict, dict]:
    """The pipeline's rules, row by row in staged order: ({stored identifier: its row's name},
    {record index: reject code}). Blank means absent; identifiers are trimmed of spaces (only);
    the first row of an identifier is its survivor, later ones are duplicates (ELQ-00026); an
    identifier longer than the limit is malformed (ELQ-00032)."""
    trimmed = [{k: (v or "").strip(" ") for k, v in r.items()} for r in rows]
    lower = db_lower(t.get("OpportunityID", "") for t in trimmed)
    seen, stored, rejects = set(), {}, {}
    for rec, values in enumerate(trimmed, start=1):
        ident = values.get("OpportunityID", "")
        if not any(values.values()):
            rejects[rec] = Code.EMPTY.value
            continue
        if not ident:
            rejects[rec] = Code.MISSING_FIELDS.value
            continue
        key = ident if case_sensitive else lower[ident]
        if key in seen:
            rejects[rec] = Code.DUPLICATE.value
            continue
        seen.add(key)
        if len(ident) > LIMIT:
            rejects[rec] = Code.MALFORMED.value
            continue
        stored[ident] = values["OpportunityName"]
    return stored, rejects


def wait_lanes_in_flight(count: int) -> None:
    """Until `count` backends of the test database wait on a lock at once (a worker's chunk each)."""
    with psycopg.connect(conninfo(), autocommit=True) as watcher:
        wait_for(
            lambda: watcher.execute(
                "SELECT count(*) >= %s FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'",
                [count],
            ).fetchone()[0],
            timeout=60,
            interval=0.05,
        )


def hold_new_identifiers(site, rows_by_definition: list[list[dict]]) -> psycopg.Connection:
    """A connection that has inserted, uncommitted, every identifier first seen after range 0 (as
    trimmed: the spelling its first row creates), so every lane that creates one waits for it."""
    in_range_0, later = set(), []
    for rows in rows_by_definition:
        for i, r in enumerate(rows):
            ident = (r.get("OpportunityID") or "").strip(" ")
            if ident and len(ident) <= LIMIT:
                (in_range_0.add if i < FIRST else later.append)(ident)
    lower = db_lower([*in_range_0, *later])
    held = sorted({i for i in later if lower[i] not in {lower[j] for j in in_range_0}})
    side = psycopg.connect(conninfo())
    side.execute(
        "INSERT INTO opportunities_opportunity (site_id, external_id, name, amount, stage_id)"
        " SELECT %s, x, 'held', 0, %s FROM unnest(%s::text[]) x ON CONFLICT DO NOTHING",
        [site.pk, site.stages.get(name="Proposal").pk, held],
    )
    return side


@contextmanager
def held_until_in_flight(site, rows_by_definition: list[list[dict]], in_flight: int):
    """With `in_flight`, the new identifiers are held (`hold_new_identifiers`) while the block starts
    its syncs, then until that many chunks wait at once, and released."""
    side = hold_new_identifiers(site, rows_by_definition) if in_flight else None
    try:
        yield
        if side is not None:
            wait_lanes_in_flight(in_flight)
            side.rollback()
    finally:
        if side is not None:
            side.close()


def wait_ended(sync_id: int) -> Sync:
    return wait_for(
        lambda: (s := Sync.objects.get(pk=sync_id)).status in ("success", "warning", "error") and s, timeout=120
    )


def run_on_workers(settings, rows: list[dict], *, lanes: int, case_sensitive: bool = False, in_flight: int = 0):
    """Stage `rows` for a new site and sync them on the workers with `lanes` lanes; with
    `in_flight`, hold the lanes' new identifiers until that many chunks wait at once. Returns the
    ended sync and what it left: (stored records, rejects, counters)."""
    settings.BULK_SYNC_LANES, settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_FIRST_RANGE_ROWS = lanes, CHUNK, FIRST
    site = SiteFactory()
    definition = ImportDefinitionFactory(site=site, is_identifier_field_case_sensitive=case_sensitive)
    stage(definition, rows)
    with held_until_in_flight(site, [rows], in_flight):
        sync = staged_sync(definition)
    sync = wait_ended(sync.pk)
    return sync, left_by(sync)


def left_by(sync: Sync):
    stored = sorted(Opportunity.objects.filter(site=sync.site).values_list("external_id", "name", "amount"))
    rejects = sorted(Reject.objects.filter(sync=sync).values_list("record_index", "status_code", "invalid_fields"))
    counters = (sync.status, sync.total_rows, sync.processed, sync.created_count, sync.updated_count, sync.rejected)
    return stored, rejects, counters


def assert_as_expected(sync: Sync, left, rows: list[dict], *, case_sensitive: bool = False) -> None:
    """Every row stored once (its identifier's record holds its values) or rejected once with its
    reason, and the counters add up."""
    stored, rejects, counters = left
    want_stored, want_rejects = expected(rows, case_sensitive=case_sensitive)
    assert {ext: name for ext, name, _ in stored} == want_stored
    assert len(stored) == len(want_stored)  # no identifier stored twice (in two spellings)
    assert {rec: code for rec, code, _ in rejects} == want_rejects
    assert len(rejects) == len(want_rejects)  # no row rejected twice
    assert counters == (
        "warning" if want_rejects else "success",
        len(rows),
        len(rows),
        len(want_stored),
        0,
        len(want_rejects),
    )
    assert sync.processed == sync.created_count + sync.updated_count + sync.rejected


def shuffled(idents: list, seed: int = 25) -> list:
    out = list(idents)
    random.Random(seed).shuffle(out)
    return out


def background(n_per_letter: int = 6) -> list[str]:
    """Plain identifiers over the whole alphabet, so that every lane has its share."""
    return [f"{c}{i:02d}" for c in "abcdefghijklmnopqrstuvwxyz" for i in range(n_per_letter)]


# Identifiers equal but for case, for blanks, or not equal but for a letter beyond ASCII.
CASE = ["Acme-1", "ACME-1", "acme-1", "aCmE-1", "Acme-1"]
BLANKS = [" W-1", "W-1 ", "  W-1  ", "W-1", "\tW-1", "W-1\u00a0", "W 1", "W  1"]
NON_ASCII = [
    "café", "cafe", "CAFÉ", "Café", "cafe\u0301",  # é precomposed, plain e, e + combining accent
    "straße", "STRASSE", "strasse", "STRAẞE", "Straße",  # ß, its capital ẞ, and ss
    "kılıç", "KILIÇ", "kiliç", "KİLİÇ", "Kılıç",  # Turkish dotless ı, dotted İ
    "\u212aelvin", "Kelvin", "kelvin",  # the Kelvin sign K, which lower-cases to k
    "ǅemal", "Ǆemal", "ǆemal",  # title case
]  # fmt: skip
EMPTY = ["", "   ", None, ...]
NEAR_LIMIT = [
    "L" * LIMIT, " " + "l" * LIMIT + " ", "é" * LIMIT, "É" * (LIMIT - 1) + "e", "x" * (LIMIT + 1), "é" * (LIMIT + 1),
    "ß" * LIMIT,
]  # fmt: skip


def mixed() -> list[dict]:
    idents = shuffled(background() + CASE * 3 + BLANKS * 2 + NON_ASCII * 2 + EMPTY * 2 + NEAR_LIMIT)
    rows = rows_of(idents)
    rows.append({"OpportunityID": " ", "OpportunityName": "", "Amount": "", "Stage": ""})  # an empty record
    return rows


@pytest.mark.parametrize("case_sensitive", [False, True], ids=["case-insensitive", "case-sensitive"])
def test_lanes_in_flight_at_once_store_and_reject_what_one_lane_does(settings, workers, case_sensitive):
    # given: ~320 rows of plain identifiers mixed with identifiers equal but for case, blanks or
    # letters beyond ASCII, empty ones, and ones at and past the size limit
    rows = mixed()
    # when: synced by one lane, and by three lanes whose chunks all run at once on the workers
    one, by_one = run_on_workers(settings, rows, lanes=1, case_sensitive=case_sensitive)
    many, by_many = run_on_workers(settings, rows, lanes=LANES, case_sensitive=case_sensitive, in_flight=LANES)
    # then: the same records, rejects and counters; each row stored once or rejected once
    assert many.lanes == LANES and many.lane_bounds is not None and len(many.range_ends) > 3
    assert by_many == by_one
    assert_as_expected(many, by_many, rows, case_sensitive=case_sensitive)


def test_a_lane_bound_equal_to_identifiers_but_for_case_and_blanks_keeps_them_in_one_lane(settings, workers):
    # given: 300 rows whose lane keys, sorted, put the thirds' bounds inside two groups of
    # spellings of one identifier (case, blanks, and an accented letter in upper and lower case)
    mid = ["mid", "MID", "Mid", " mid", "mid  ", "  MiD "]
    ete = ["été", "ÉTÉ", "Été", " été ", "ÉtÉ"]
    idents = (
        [f"a{i:03d}" for i in range(89)] + ["ete"] + [mid[i % len(mid)] for i in range(20)]
        + [f"n{i:03d}" for i in range(80)] + [ete[i % len(ete)] for i in range(20)]
        + [f"ü{i:03d}" for i in range(90)]
    )  # fmt: skip
    rows = rows_of(shuffled(idents))
    lower = db_lower(ete)
    # when
    one, by_one = run_on_workers(settings, rows, lanes=1)
    many, by_many = run_on_workers(settings, rows, lanes=LANES, in_flight=LANES)
    # then: each identifier is stored once, its other spellings rejected as duplicates, as by one lane
    assert by_many == by_one
    assert_as_expected(many, by_many, rows)
    assert Opportunity.objects.filter(site=many.site, external_id__iexact="mid").count() == 1
    # and the lane bounds were those very identifiers
    assert many.lane_bounds[0] == "mid" and many.lane_bounds[1] == lower["ÉTÉ"] == lower["été"]


def test_rows_that_all_have_one_identifier_leave_one_survivor_however_many_lanes(settings, workers):
    # given: 200 rows of one identifier (in a few spellings): every lane bound is that identifier
    rows = rows_of(["Same-1" if i % 4 else [" same-1", "SAME-1 ", "Same-1"][i % 3] for i in range(200)])
    # when
    one, by_one = run_on_workers(settings, rows, lanes=1)
    many, by_many = run_on_workers(settings, rows, lanes=LANES)
    # then: the first row is stored, the other 199 are duplicates (ELQ-00026)
    assert many.lane_bounds == ["same-1"] * (LANES - 1)
    assert by_many == by_one
    assert_as_expected(many, by_many, rows)
    assert by_many[0] == [(" same-1".strip(), "Deal 1", 1)]


def test_overlapping_syncs_with_lanes_in_flight_store_each_identifier_once_whole(settings, workers):
    """Two definitions of one site sync overlapping identifiers at once, two lanes each, all four
    chunks in flight together: each identifier is stored once, holding one row's values whole; each
    sync counts every row once (created by whoever committed it first, updated by the other); the
    same with one lane each."""

    def run(lanes: int, in_flight: int):
        settings.BULK_SYNC_LANES, settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_FIRST_RANGE_ROWS = (
            lanes, CHUNK, FIRST,
        )  # fmt: skip
        site = SiteFactory()
        data = {
            "A": [row(i, f"ov{i:03d}", OpportunityName=f"A {i}", Amount=str(i)) for i in shuffled(range(0, 200), 1)],
            "B": [row(i, f"ov{i:03d}", OpportunityName=f"B {i}", Amount=str(1000 + i))
                  for i in shuffled(range(100, 300), 2)],
        }  # fmt: skip
        definitions = {}
        for name, rows in data.items():
            definitions[name] = ImportDefinitionFactory(site=site)
            stage(definitions[name], rows)
        with held_until_in_flight(site, list(data.values()), in_flight):
            syncs = {name: staged_sync(d) for name, d in definitions.items()}
        syncs = {name: wait_ended(s.pk) for name, s in syncs.items()}
        stored = list(Opportunity.objects.filter(site=site).values_list("external_id", "name", "amount"))
        for sync in syncs.values():
            assert (sync.status, sync.processed, sync.rejected) == ("success", 200, 0)
            assert sync.created_count + sync.updated_count == 200
            assert not Reject.objects.filter(sync=sync).exists()
        # each record whole: the name and amount of one and the same row
        for ext, name, amount in stored:
            who, i = name.split()
            assert ext == f"ov{int(i):03d}" and amount == int(i) + (1000 if who == "B" else 0)
        assert len({ext for ext, _, _ in stored}) == len(stored) == 300
        assert sum(s.created_count for s in syncs.values()) == 300
        assert sum(s.updated_count for s in syncs.values()) == 100
        assert all(s.lanes == lanes for s in syncs.values())
        return sorted(ext for ext, _, _ in stored)

    assert run(lanes=2, in_flight=4) == run(lanes=1, in_flight=0)
