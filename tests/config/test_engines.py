"""What the engine settings turn on: the broker by CELERY_BROKER_URL's scheme (RabbitMQ: quorum
queues, publisher confirms, a time limit under its consumer_timeout), PgBouncer's transaction
mode (DATABASE_POOLER), and the read replica's alias (REPLICA_DATABASE_URL)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.config.test_settings import _environ
from tests.conftest import ROOT

BASE = {"DJANGO_DEBUG": "true", "DATABASE_URL": "postgres://bulk@db.internal:5432/bulk"}


def load(env: dict[str, str]) -> subprocess.CompletedProcess:
    code = """
import json
from django.conf import settings
from config.celery import app
db = settings.DATABASES
print(json.dumps({
    "broker": app.conf.broker_url, "transport": app.conf.broker_transport_options,
    "queues": {q.name: [q.exchange.name, q.exchange.type, q.queue_arguments] for q in (app.conf.task_queues or [])},
    "acks_late": app.conf.task_acks_late, "prefetch": app.conf.worker_prefetch_multiplier,
    "options": db["default"]["OPTIONS"], "no_cursors": db["default"].get("DISABLE_SERVER_SIDE_CURSORS", False),
    "replica": {k: db["replica"][k] for k in ("HOST", "PORT", "NAME", "ENGINE")} if "replica" in db else None,
    "routers": settings.DATABASE_ROUTERS,
}))
"""
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=_environ({**BASE, **env}), capture_output=True, text=True
    )


def shown(env: dict[str, str]) -> dict:
    done = load(env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_redis_is_the_default_broker_and_a_direct_connection_keeps_its_startup_options():
    got = shown({"REDIS_URL": "redis://cache.internal:6379/0"})
    assert got["broker"] == "redis://cache.internal:6379/0" and got["queues"] == {}
    assert got["transport"] == {"visibility_timeout": 3600}
    # temp_buffers, and the settings that end a lost client's session on the server's side (docs/scaling.md)
    assert (
        got["options"]
        == {
            "options": "-c temp_buffers=64MB -c idle_in_transaction_session_timeout=60s -c tcp_keepalives_idle=30"
            " -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3 -c client_connection_check_interval=10s"
        }
        and not got["no_cursors"]
    )
    assert got["replica"] is None and got["routers"] == ["kernel.replica.ReplicaRouter"]


def test_an_amqp_url_makes_rabbitmq_the_broker_with_quorum_queues_and_publisher_confirms():
    got = shown({"CELERY_BROKER_URL": "amqp://bulk:secret@mq.internal:5672/bulk"})
    assert got["broker"] == "amqp://bulk:secret@mq.internal:5672/bulk"
    assert got["transport"] == {"confirm_publish": True}
    quorum = {"x-queue-type": "quorum"}
    assert got["queues"] == {"celery": ["bulk.tasks", "topic", quorum], "bulk": ["bulk.tasks", "topic", quorum]}
    assert got["acks_late"] is True and got["prefetch"] == 1


def test_a_task_time_limit_at_rabbitmqs_consumer_timeout_refuses_to_start():
    done = load({"CELERY_BROKER_URL": "amqp://mq.internal//", "CELERY_TASK_TIME_LIMIT": "1800"})
    assert done.returncode != 0 and "consumer_timeout" in done.stderr
    raised = {"CELERY_BROKER_URL": "amqp://mq.internal//", "CELERY_TASK_TIME_LIMIT": "1800"}
    assert load({**raised, "RABBITMQ_CONSUMER_TIMEOUT_SECONDS": "3600"}).returncode == 0
    assert load({"CELERY_TASK_TIME_LIMIT": "1800"}).returncode == 0  # Redis: no such timeout


def test_pgbouncer_turns_off_prepared_statements_server_side_cursors_and_startup_options():
    got = shown({"DATABASE_POOLER": "pgbouncer"})
    assert got["options"] == {"prepare_threshold": None} and got["no_cursors"] is True
    done = load({"DATABASE_POOLER": "pgpool"})
    assert done.returncode != 0 and "DATABASE_POOLER" in done.stderr


def test_a_replica_url_adds_the_replica_alias():
    got = shown({"REPLICA_DATABASE_URL": "postgres://bulk@replica.internal:5433/bulk", "DATABASE_POOLER": "pgbouncer"})
    assert got["replica"] == {"HOST": "replica.internal", "PORT": 5433, "NAME": "bulk", "ENGINE": "kernel.db"}
