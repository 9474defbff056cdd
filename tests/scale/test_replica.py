"""Reads off the primary, against a real streaming replica of the test cluster (pg_basebackup -R,
started on a free port): with its replay paused, the client that just wrote still reads its write
(from the primary), while another user's list and /metrics, served by the replica, do not see it
until the replica has replayed it."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest
from django.db import connections
from rest_framework.test import APIClient

from faults.cluster import _pg_bindir, free_port, wait_until
from kernel.replica import REPLICA, replica_ready_for
from tests.conftest import ROOT, bearer
from tests.factories import ImportDefinitionFactory, TokenFactory, UserFactory
from tests.pipeline.helpers import stage

# The replica alias is a mirror of the test database (settings.py's TEST MIRROR): never flushed.
pytestmark = pytest.mark.django_db(transaction=True, databases=["default", REPLICA])


def _conninfo(port: int) -> str:
    db = connections.settings["default"]
    return f"host=127.0.0.1 port={port} user={db['USER']} dbname={db['NAME']}" + (
        f" password={db['PASSWORD']}" if db.get("PASSWORD") else ""
    )


class Replica:
    """A hot standby of the test cluster in a temp dir: `pg_basebackup -R` (streaming, with its
    standby.signal and primary_conninfo), started on a free port. As root it runs as `postgres`."""

    def __init__(self, primary_port: int):
        self.bindir = _pg_bindir()
        self.user = "postgres" if os.geteuid() == 0 else None
        base = ROOT / ".run"
        base.mkdir(exist_ok=True)
        reachable = self.user is None or subprocess.run(self._as_pg("test", "-x", str(base)), cwd="/").returncode == 0
        self.dir = Path(tempfile.mkdtemp(prefix="replica-", dir=base if reachable and len(str(base)) < 60 else "/tmp"))
        os.chmod(self.dir, 0o755)
        if self.user:
            shutil.chown(self.dir, self.user)
        self.data = self.dir / "data"
        self.port = free_port()
        self.primary_port = primary_port

    def _as_pg(self, *argv: str) -> list[str]:
        return ["runuser", "-u", self.user, "--", *argv] if self.user else list(argv)

    def start(self) -> None:
        subprocess.run(
            self._as_pg(str(self.bindir / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary_port),
                        "-U", "postgres", "-D", str(self.data), "-R", "-X", "stream", "-c", "fast", "--no-sync"),
            cwd="/", check=True, capture_output=True,
        )  # fmt: skip
        with open(self.data / "postgresql.conf", "a") as conf:  # later lines win over the primary's
            conf.write(
                f"\nport = {self.port}\nunix_socket_directories = '{self.dir}'\nlisten_addresses = '127.0.0.1'\n"
                "hot_standby = on\nshared_buffers = 32MB\n"
            )
        subprocess.run(
            self._as_pg(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "server.log"),
                        "-w", "-t", "60", "start"),
            cwd="/", check=True, capture_output=True,
        )  # fmt: skip

    def stop(self) -> None:
        subprocess.run(
            self._as_pg(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"),
            cwd="/", capture_output=True,
        )  # fmt: skip
        shutil.rmtree(self.dir, ignore_errors=True)

    def sql(self, query: str):
        with psycopg.connect(_conninfo(self.port), autocommit=True) as conn:
            return conn.execute(query).fetchone()


@pytest.fixture(scope="module")
def replica(django_db_setup, django_db_blocker):
    """A streaming replica of the test database's cluster (after the test database exists)."""
    primary_port = int(connections.settings["default"]["PORT"] or 5432)
    with psycopg.connect(_conninfo(primary_port), autocommit=True) as conn:
        wal_level = conn.execute("SHOW wal_level").fetchone()[0]
        senders = int(conn.execute("SHOW max_wal_senders").fetchone()[0])
        can_replicate = conn.execute("SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user")
        can_replicate = can_replicate.fetchone()[0]
    if wal_level == "minimal" or senders == 0 or not can_replicate:
        reason = f"the test cluster cannot feed a replica (wal_level {wal_level}, max_wal_senders {senders}, "
        reason += f"replication role {can_replicate}): run under scripts/with-services.sh, which sets them"
        print(f"\nSKIPPED LOUDLY: {reason}", file=sys.stderr)
        pytest.skip(reason)
    from django.conf import settings

    node = Replica(primary_port)
    try:
        node.start()
        # The `replica` alias, as REPLICA_DATABASE_URL makes it (settings.py).
        settings.DATABASES[REPLICA] = {
            **connections.settings["default"], "HOST": "127.0.0.1", "PORT": str(node.port),
            "TEST": {"MIRROR": "default"},
        }  # fmt: skip
        yield node
    finally:
        if REPLICA in settings.DATABASES:
            with contextlib.suppress(Exception):
                connections[REPLICA].close()
            with contextlib.suppress(AttributeError):
                del connections[REPLICA]
            del settings.DATABASES[REPLICA]
        node.stop()


def caught_up(replica: Replica) -> bool:
    with psycopg.connect(_conninfo(int(connections.settings["default"]["PORT"] or 5432)), autocommit=True) as conn:
        primary = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0]
    return bool(replica.sql(f"SELECT pg_last_wal_replay_lsn() >= '{primary}'::pg_lsn")[0])


def client_of(user) -> APIClient:
    client = APIClient()
    client.credentials(**bearer(TokenFactory(user=user).raw))
    return client


def test_a_writer_reads_its_write_from_the_primary_while_the_replica_lags_and_others_read_the_replica(
    replica, site, settings
):
    # given: two users of one site, and a definition with staged rows that the replica has replayed
    settings.METRICS_TOKEN = "replica-metrics"
    writer_user, colleague_user = UserFactory(site=site), UserFactory(site=site)
    writer, colleague = client_of(writer_user), client_of(colleague_user)
    definition = ImportDefinitionFactory(site=site)
    stage(definition, [{"OpportunityID": "1", "OpportunityName": "One", "Amount": "1", "Stage": "Proposal"}])
    wait_until(lambda: caught_up(replica), 30, "the replica replaying the setup")
    replica.sql("SELECT pg_wal_replay_pause()")
    wait_until(lambda: replica.sql("SELECT pg_get_wal_replay_pause_state()")[0] == "paused", 10, "paused")

    # when: the writer starts a sync (a write the paused replica does not replay)
    created = writer.post("/api/bulk/2.0/syncs", {"syncedInstanceUri": f"/opportunities/imports/{definition.pk}"})
    assert created.status_code == 201, created.json()
    uri = "/api/bulk/2.0" + created.json()["uri"]

    # then: the writer's poll and list read the primary and see it...
    poll = writer.get(uri)
    assert poll.status_code == 200 and poll.json()["status"] == "pending"
    assert writer.get("/api/bulk/2.0/syncs").json()["totalResults"] == 1
    # ...while its colleague's list, its poll and /metrics come from the replica, which has not got it
    assert colleague.get("/api/bulk/2.0/syncs").json()["totalResults"] == 0
    assert colleague.get(uri).status_code == 404
    assert not replica_ready_for(user_id=writer_user.pk) and replica_ready_for(user_id=colleague_user.pk)
    metrics = APIClient().get("/metrics", HTTP_AUTHORIZATION="Bearer replica-metrics").content.decode()
    assert 'bulk_syncs{status="pending"} 0.0' in metrics

    # when the replica replays again, everyone reads it there, the writer too
    replica.sql("SELECT pg_wal_replay_resume()")
    wait_until(lambda: caught_up(replica), 30, "the replica catching up")
    assert colleague.get("/api/bulk/2.0/syncs").json()["totalResults"] == 1
    assert colleague.get(uri).json()["status"] == "pending"
    assert replica_ready_for(user_id=writer_user.pk)
    _drain_bulk_queue()


def _drain_bulk_queue() -> None:
    """The sync's chunk message, which no worker of this module runs."""
    from django.conf import settings
    from redis import Redis

    Redis.from_url(settings.CELERY_BROKER_URL).delete("bulk")
