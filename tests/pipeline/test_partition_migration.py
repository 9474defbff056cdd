"""Migration bulkapi 0018 on a populated database: the staged rows' table, rows and all, becomes
the first partition of the partitioned `bulkapi_stagedrow` (nothing copied), ids go on from where
the sequence was, and the way back copies the rows into one plain table again."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("bulkapi", "0017_idempotency_claim")
AFTER = ("bulkapi", "0018_staged_rows_partitioned")
DEFINITION = -18  # no definition of anyone's: nobody reads these rows


def migrate(target) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])


def where(cur) -> dict[str, int]:
    cur.execute(
        "SELECT tableoid::regclass::text, count(*) FROM bulkapi_stagedrow WHERE definition_id = %s GROUP BY 1",
        [DEFINITION],
    )
    return dict(cur.fetchall())


def stage(cur, n: int) -> list[int]:
    cur.execute(
        "INSERT INTO bulkapi_stagedrow (definition_id, upload_id, data)"
        " SELECT %s, %s, jsonb_build_object('n', g) FROM generate_series(1, %s) g RETURNING id",
        [DEFINITION, DEFINITION, n],
    )
    return sorted(row[0] for row in cur.fetchall())


def test_a_populated_table_becomes_the_first_partition_and_comes_back():
    migrate(BEFORE)
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT relkind FROM pg_class WHERE relname = 'bulkapi_stagedrow'")
            assert cur.fetchone()[0] == "r"
            old = stage(cur, 50)
        migrate(AFTER)
        with connection.cursor() as cur:
            cur.execute("SELECT relkind FROM pg_class WHERE relname = 'bulkapi_stagedrow'")
            assert cur.fetchone()[0] == "p"
            assert where(cur) == {"bulkapi_stagedrow_from_0": 50}
            new = stage(cur, 5)
            assert new[0] > old[-1]
            assert where(cur) == {"bulkapi_stagedrow_from_0": 50, f"bulkapi_stagedrow_from_{old[-1] + 1}": 5}
            cur.execute("SELECT relname, sealed_at IS NOT NULL FROM bulkapi_stagedpartition ORDER BY lo")
            assert cur.fetchall() == [
                ("bulkapi_stagedrow_from_0", True),
                (f"bulkapi_stagedrow_from_{old[-1] + 1}", False),
            ]
        migrate(BEFORE)
        with connection.cursor() as cur:
            assert where(cur) == {"bulkapi_stagedrow": 55}
            assert stage(cur, 1)[0] > new[-1]
    finally:
        migrate(AFTER)
        with connection.cursor() as cur:
            cur.execute("DELETE FROM bulkapi_stagedrow WHERE definition_id = %s", [DEFINITION])
