"""RabbitMQ as the broker (CELERY_BROKER_URL=amqp://...): a private node, the API, a worker, no
beat. An import syncs end to end, and a broker restart mid-sync loses no message: with no beat
running, nothing but the quorum queues' own messages could carry the sync to its end."""

import json
import os
import subprocess
import sys

from faults.cluster import RabbitMQ
from tests.conftest import ROOT
from tests.scale.engines import faults, require, table_row


def test_a_sync_runs_on_rabbitmq_and_a_broker_restart_mid_sync_loses_no_message():
    require("rabbitmq")

    output = faults("--broker", "rabbitmq", "--no-beat", "--scenarios", "clean,rabbitmq-restart")

    assert "broker rabbitmq, no beat" in output
    for scenario in ("clean", "rabbitmq-restart"):
        _, rows, stored, rejected, lost, dup, wrong, _, result = table_row(output, scenario)
        assert (rows, stored, rejected, lost, dup, wrong, result) == ("2,000", "1,980", "20", "0", "0", "0", "ok")
    assert "checker self-test: a deleted row and a duplicated row are both caught" in output


PROBE = """
import json, django
django.setup()
from config.celery import app
from kernel.broker import amqp_queue_lengths, broker_ping
from ops.metrics import BusinessCollector
broker_ping()
before = amqp_queue_lengths()
app.send_task("syncs.purge_expired")
app.send_task("syncs.run", args=(0, 0, 0), queue="bulk")
depth = {s.labels["queue"]: s.value for m in BusinessCollector()._broker() for s in m.samples}
print(json.dumps({"before": before, "after": amqp_queue_lengths(), "metrics": depth}))
"""


def test_health_and_metrics_read_rabbitmq_queues(tmp_path):
    """/health's broker check and /metrics' queue depths on RabbitMQ (passive declares), and the
    queues our messages go to are quorum queues."""
    require("rabbitmq")
    node = RabbitMQ(tmp_path)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "CELERY_BROKER_URL": node.url}
    try:
        node.start()

        done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True)

        assert done.returncode == 0, done.stderr[-3000:]
        got = json.loads(done.stdout.splitlines()[-1])
        assert got["before"] == {"celery": 0, "bulk": 0}  # not declared yet: nothing waits
        assert got["after"] == {"celery": 1, "bulk": 1} == got["metrics"]
        assert node.queue_types() == {"celery": "quorum", "bulk": "quorum"}
    finally:
        node.destroy()
    down = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from kernel.broker import broker_ping; broker_ping()"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert down.returncode != 0  # a stopped broker is reported, not waited on
