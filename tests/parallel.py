"""Two test processes at once (`make test` runs `pytest -n 2`, pytest-xdist), each apart from the other.

Loaded by pytest.ini (`-p tests.parallel`) after tests.environment and before Django reads the settings.

What each xdist worker (gw0, gw1, ...) has of its own:
- the test database: pytest-django names it test_bulk_gw0, test_bulk_gw1, ...;
- its Redis databases: REDIS_URL (and so the broker, the cache and the Celery workers, servers and
  `make run`s it starts, which inherit it) names database FIRST_REDIS_DB + N for worker gwN. The
  databases the tests use beside REDIS_URL's are outside that range: test_readme's 4 and 5, test_wire's 15;
- its temporary directories (pytest's basetemp has a directory per worker) and free ports (port 0,
  asked of the kernel, never a fixed number);
- RabbitMQ, PgBouncer, the replica and the fault matrix's PostgreSQL and Redis are private servers
  each test starts for itself (own ports, node names and data directories), never shared ones.

Each module's tests run on one worker (`--dist loadfile`), so its module-scoped fixtures (a Celery
worker, a live server) start once; modules that share something no worker can have its own of are
one group, run one after the other on one worker (SHARED below).

The groups are handed out longest first (LONGEST_FIRST, measured on this 2-core machine), so that the
last group to start is a short one rather than the fault matrix: only the order changes, never what runs.
"""

from __future__ import annotations

import os
import re

import pytest

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
FIRST_REDIS_DB, LAST_REDIS_DB = 6, 14


def _redis_database(url: str, number: int) -> str:
    """`url` on Redis database `number` (redis://host:port/N, any N or none)."""
    base, _, rest = url.partition("?")
    base = re.sub(r"^(rediss?://[^/]*)(/\d*)?/?$", r"\1", base)
    return f"{base}/{number}" + (f"?{rest}" if rest else "")


def _isolate_redis() -> None:
    number = FIRST_REDIS_DB + int(WORKER.removeprefix("gw"))
    if number > LAST_REDIS_DB:
        raise pytest.UsageError(f"at most {LAST_REDIS_DB - FIRST_REDIS_DB + 1} xdist workers (Redis databases)")
    os.environ["REDIS_URL"] = _redis_database(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), number)
    for name in ("CACHE_URL", "CELERY_BROKER_URL"):
        value = os.environ.get(name, "")
        if value.startswith(("redis://", "rediss://")):
            os.environ[name] = _redis_database(value, number)
        elif value:  # an AMQP broker: one vhost for every worker would mix their queues
            raise pytest.UsageError(f"{name}={value.split('://')[0]}://...: run the suite with -n 0 (one process)")


if WORKER:
    _isolate_redis()

# Modules that share something outside the test database and Redis: one group, run one at a time.
SHARED = {
    # `make run` writes this checkout's .run/env, which test_runenv's commands read (or must not find).
    "tests/ops/test_make_run.py": "make-run-env",
    "tests/ops/test_runenv.py": "make-run-env",
    # test_layers puts a module into kernel/ for a moment; these read every module of the tree.
    "tests/test_layers.py": "source-tree",
    "tests/kernel/test_sql_guard.py": "source-tree",
    "tests/kernel/test_password_change.py": "source-tree",
}

# Then the slowest groups, slowest first (`make test`'s --durations on 2 cores); the rest follow in collection order.
LONGEST_FIRST = (
    # First of all, on a fresh test database: the plan tests, whose plans depend on the statistics that
    # committing tests leave behind (a serial run has them there too: pytest-django runs every
    # rolled-back test before the committing ones). Run after others, one once failed.
    "tests/entities/linkage/test_plans.py",
    "tests/entities/contacts/test_plans.py",
    "tests/entities/opportunities/test_indexes.py",
    "tests/doors/admin/test_admin_tenancy.py",
    "tests/doors/openapi/test_schemathesis.py",
    "tests/faults/test_fault_matrix.py",
    "tests/scale/test_rabbitmq.py",
    "make-run-env",
    "tests/scale/test_pgbouncer.py",
    "tests/browser/test_admin_browser.py",
    "tests/hardening/test_corpus.py",
    "tests/test_readme.py",
    "tests/entities/linkage/test_worker_e2e.py",
    "tests/pipeline/test_worker_e2e.py",
    "tests/pipeline/test_failures_end_syncs.py",
    "tests/hardening/test_framing.py",
    "tests/doors/capillary/test_worker_e2e.py",
    "tests/ops/test_queues.py",
    "tests/doors/eloqua/clients/test_eloqua_clients.py",
    "tests/doors/batch/test_worker_e2e.py",
    "tests/pipeline/test_worker_crash.py",
)


def group_of(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    return SHARED.get(path, path)


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """`--dist loadfile`, with the SHARED modules one group: each group goes whole to one worker.
    (Not xdist's `loadgroup`: it marks a group by renaming each test's node id, which pytest 9 ignores.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return GroupScheduling(config, log)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """In each worker, after every other hook (pytest-django's order of database tests included): the
    groups longest first. The controller hands the groups out in this order (--no-loadscope-reorder)."""
    if WORKER:
        rank = {group: i for i, group in enumerate(LONGEST_FIRST)}
        items.sort(key=lambda item: rank.get(group_of(item.nodeid), len(rank)))
