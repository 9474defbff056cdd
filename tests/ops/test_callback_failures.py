"""A sync callback that fails is recorded, each attempt, by the worker that made it: metrics count
the rows, so the count survives any restart."""

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from ops.models import CallbackFailure
from pipeline.models import SyncStatus
from pipeline.tasks import sync_callback
from tests.conftest import wait_for
from tests.factories import SyncFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker_process")]


class Unavailable(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(503)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def failing_url():
    server = HTTPServer(("127.0.0.1", 0), Unavailable)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/down"
    server.shutdown()


@pytest.fixture
def finished_sync(site, failing_url):
    return SyncFactory(site=site, status=SyncStatus.SUCCESS, callback_url=failing_url)


def test_each_failed_attempt_is_recorded(finished_sync):
    sync_callback.delay(finished_sync.pk)

    # The task retries with a backoff of up to 2 s before its second attempt.
    def first_two():
        failures = list(CallbackFailure.objects.filter(sync_id=finished_sync.pk).order_by("attempt")[:2])
        return failures if len(failures) == 2 else None

    failures = wait_for(first_two, timeout=60)
    assert [(f.attempt, f.final) for f in failures] == [(1, False), (2, False)]
    assert "503" in failures[0].error


def test_the_last_attempt_is_recorded_as_final(finished_sync):
    # given: the task's retries are used up (this is its last allowed run)
    sync_callback.apply_async((finished_sync.pk,), retries=sync_callback.max_retries)
    failure = wait_for(lambda: CallbackFailure.objects.filter(sync_id=finished_sync.pk).first(), timeout=60)
    assert failure.final and failure.attempt == sync_callback.max_retries + 1
    assert "503" in failure.error
