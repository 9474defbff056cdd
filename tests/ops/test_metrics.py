"""GET /metrics: Prometheus text behind a bearer token, with the HTTP numbers of every gunicorn
worker added up and the business numbers read from PostgreSQL and the broker at scrape time."""

import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import pytest
import requests
from django.conf import settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from kernel.broker import broker_client
from ops.models import CallbackFailure
from pipeline.models import SyncStatus
from pipeline.tasks import purge_expired, sync_run
from tests.conftest import ROOT, bearer, database_url, wait_for
from tests.factories import SiteFactory, SyncFactory

TOKEN = f"metrics-test-{uuid.uuid4().hex}"


@pytest.fixture
def metrics(client, settings):
    settings.METRICS_TOKEN = TOKEN

    def scrape() -> dict:
        response = client.get("/metrics", **bearer(TOKEN))
        assert response.status_code == 200, response.content
        assert response["Content-Type"].startswith("text/plain; version=0.0.4")
        return samples(response.content.decode())

    return scrape


def samples(text: str) -> dict:
    """{(name, (("label", "value"), ...)): value} of every sample."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(scraped: dict, name: str, **labels) -> float | None:
    return scraped.get((name, tuple(sorted(labels.items()))))


def test_metrics_are_off_unless_a_token_is_set(client, settings):
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics", **bearer("anything"))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize(
    "headers, code",
    [({}, "not_authenticated"), (bearer("wrong"), "authentication_failed"),
     ({"HTTP_AUTHORIZATION": f"Basic {TOKEN}"}, "authentication_failed")],
)  # fmt: skip
def test_metrics_need_the_token(client, settings, headers, code):
    settings.METRICS_TOKEN = TOKEN
    response = client.get("/metrics", **headers)
    assert response.status_code == 401
    assert response.json()["code"] == code
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'


@pytest.mark.django_db
def test_requests_are_counted_by_route_and_status(client, metrics):
    before = metrics()
    client.get("/health")
    client.get("/api/bulk/2.0/syncs/1")  # 401: no credentials
    after = metrics()
    name = "django_http_responses_total_by_status_view_method_total"
    for view, status in (("health", "200"), ("sync-detail", "401")):
        was = sample(before, name, view=view, status=status, method="GET") or 0
        assert sample(after, name, view=view, status=status, method="GET") == was + 1, view
    assert sample(after, "django_http_requests_latency_seconds_by_view_method_count", view="health", method="GET")


@pytest.mark.django_db
def test_syncs_rows_and_running_progress_come_from_the_database(metrics):
    # given
    site = SiteFactory(name="Acme")
    now = timezone.now()
    SyncFactory(site=site, status=SyncStatus.SUCCESS, processed=10, created_count=7, updated_count=3)
    SyncFactory(site=site, status=SyncStatus.WARNING, processed=5, created_count=1, rejected=4)
    running = SyncFactory(
        site=site, status=SyncStatus.ACTIVE, total_rows=1000, processed=500, created_count=500,
        sync_started_at=now - timedelta(seconds=10), heartbeat_at=now - timedelta(seconds=2),
    )  # fmt: skip
    SyncFactory(site=site, status=SyncStatus.PENDING, total_rows=50)
    CallbackFailure.objects.create(sync_id=1, attempt=1, error="503")
    CallbackFailure.objects.create(sync_id=1, attempt=7, final=True, error="503")
    # when
    scraped = metrics()
    # then
    for status, count in (("success", 1), ("warning", 1), ("active", 1), ("pending", 1), ("error", 0)):
        assert sample(scraped, "bulk_syncs", status=status) == count, status
    assert sample(scraped, "bulk_sync_rows_total", outcome="created") == 508
    assert sample(scraped, "bulk_sync_rows_total", outcome="updated") == 3
    assert sample(scraped, "bulk_sync_rows_total", outcome="rejected") == 4
    labels = {"sync_id": str(running.pk), "site": "Acme"}
    assert sample(scraped, "bulk_running_sync_processed_rows", **labels) == 500
    assert sample(scraped, "bulk_running_sync_total_rows", **labels) == 1000
    assert 40 < sample(scraped, "bulk_running_sync_rows_per_second", **labels) <= 50
    assert 10 <= sample(scraped, "bulk_running_sync_eta_seconds", **labels) < 13
    assert 2 <= sample(scraped, "bulk_running_sync_idle_seconds", **labels) < 5
    assert sample(scraped, "bulk_sync_callback_failures_total", final="false") == 1
    assert sample(scraped, "bulk_sync_callback_failures_total", final="true") == 1
    assert sample(scraped, "bulk_source_up", source="database") == 1


@pytest.mark.django_db
def test_queue_depth_is_read_from_the_broker(metrics):
    client = broker_client()
    client.delete(*settings.TASK_QUEUES)
    try:
        for _ in range(3):
            sync_run.delay(0, 0)
        purge_expired.apply_async(priority=9)  # kombu keeps other priorities in lists of their own
        scraped = metrics()
    finally:
        client.delete(*settings.TASK_QUEUES, *(f"{q}\x06\x169" for q in settings.TASK_QUEUES))
    assert sample(scraped, "bulk_celery_queue_length", queue="bulk") == 3
    assert sample(scraped, "bulk_celery_queue_length", queue="celery") == 1
    assert sample(scraped, "bulk_source_up", source="broker") == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.django_db
def test_gunicorn_workers_add_up(tmp_path):
    """Each of gunicorn's two worker processes counts its own requests; a scrape, whichever worker
    answers it, reports them all."""
    port = _free_port()
    env = {
        **os.environ, "DATABASE_URL": database_url(), "REDIS_URL": settings.REDIS_URL, "DJANGO_DEBUG": "true",
        "METRICS_TOKEN": TOKEN, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
    }  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "-c", "python:config.gunicorn",
         "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=(tmp_path / "gunicorn.log").open("w"),
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(base), timeout=60)
        before = _health_count(base)
        # One worker is kept busy reading a request we have not finished sending, so the next
        # request is answered by the other one: each worker answers one /health.
        held = socket.create_connection(("127.0.0.1", port))
        held.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        time.sleep(0.5)
        assert requests.get(f"{base}/health", timeout=10).status_code == 200
        held.sendall(b"Connection: close\r\n\r\n")
        assert held.recv(100).startswith(b"HTTP/1.1 200")
        held.close()
        assert _health_count(base) == before + 2
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _answers(base: str) -> bool:
    """Ours is up (not some other server that took the port meanwhile: it would not know TOKEN)."""
    try:
        return requests.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).ok
    except requests.RequestException:  # not listening yet, or no worker up yet
        return False


def _health_count(base: str) -> float:
    response = requests.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 200
    name = "django_http_responses_total_by_status_view_method_total"
    return sample(samples(response.text), name, view="health", status="200", method="GET") or 0
