"""Sync chunks and everything else (callbacks, beat's upkeep) go to separate queues, so a worker of
one queue is never held up by a backlog of the other; workers and publishers send task events."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.conf import settings

from config.celery import app
from kernel.broker import broker_client, queue_lengths
from pipeline.models import SyncStatus
from pipeline.tasks import purge_expired, sync_callback, sync_run
from tests.conftest import WorkerProcess, wait_for
from tests.factories import SyncFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker():
    client = broker_client()
    client.delete(*settings.TASK_QUEUES)
    yield client
    client.delete(*settings.TASK_QUEUES)  # what no worker took


@pytest.mark.parametrize(
    "task, queue",
    [("syncs.run", "bulk"), ("syncs.callback", "celery"), ("syncs.purge_expired", "celery"),
     ("syncs.resume_stalled", "celery")],
)  # fmt: skip
def test_each_task_goes_to_its_queue(task, queue):
    assert app.amqp.router.route({}, task)["queue"].name == queue
    assert queue in settings.TASK_QUEUES


class Callbacks(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        Callbacks.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def callback_url():
    Callbacks.received = []
    server = HTTPServer(("127.0.0.1", 0), Callbacks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/done"
    server.shutdown()


def test_a_backlog_of_sync_chunks_does_not_hold_up_callbacks(site, broker, callback_url):
    # given: sync chunks queued up that no worker takes, and a worker of the other queue only
    for _ in range(20):
        sync_run.delay(0, 0)
    sync = SyncFactory(site=site, status=SyncStatus.SUCCESS, callback_url=callback_url)
    worker = WorkerProcess(queues=("celery",))
    try:
        # when
        sync_callback.delay(sync.pk)
        # then
        wait_for(lambda: Callbacks.received, timeout=30)
    finally:
        worker.stop()
    assert Callbacks.received[0]["uri"] == f"/syncs/{sync.pk}"
    assert queue_lengths(broker)["bulk"] == 20


def test_workers_and_publishers_send_task_events(celery_worker_process):
    """What Flower and `celery events` watch: without task events they see no task at all."""
    events: list[dict] = []
    with app.connection_for_read() as conn:
        receiver = app.events.Receiver(conn, handlers={"*": events.append})
        thread = threading.Thread(target=receiver.capture, kwargs={"limit": None, "timeout": 60}, daemon=True)
        thread.start()
        try:
            # The receiver is listening once it hears the worker's heartbeat.
            wait_for(lambda: any(e["type"] == "worker-heartbeat" for e in events), timeout=30)
            task_id = purge_expired.delay().id
            wait_for(lambda: any(e["type"] == "task-succeeded" and e["uuid"] == task_id for e in events))
        finally:
            receiver.should_stop = True
            thread.join(timeout=10)
    mine = {e["type"]: e for e in events if e.get("uuid") == task_id}
    assert set(mine) == {"task-sent", "task-received", "task-started", "task-succeeded"}
    assert mine["task-sent"]["name"] == "syncs.purge_expired" and mine["task-sent"]["queue"] == "celery"
    assert mine["task-received"]["hostname"] == celery_worker_process.name
