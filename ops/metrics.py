"""`GET /metrics`: Prometheus text for the whole server.

- HTTP: django-prometheus's middleware counts requests and their latency by view (route), method
  and status. Under gunicorn, PROMETHEUS_MULTIPROC_DIR makes each worker process write its numbers
  to files there, which every scrape adds up (config/gunicorn.py keeps the directory clean).
- Business: read from PostgreSQL and the broker at scrape time (nothing is counted in memory, so a
  restart loses nothing): syncs by status, rows created/updated/rejected, each running sync's
  progress, rate, ETA and idle time, messages waiting per Celery queue, failed callbacks.
- Task runtimes (a sync chunk's duration) come from Celery's own events, through Flower's
  /metrics (`flower_task_runtime_seconds{task="syncs.run"}`).

Disabled (404) unless METRICS_TOKEN is set; then it takes `Authorization: Bearer <METRICS_TOKEN>`.
"""

from __future__ import annotations

import hmac
import logging
import os

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import choose_encoder

from kernel.broker import amqp_queue_lengths, broker_client, queue_lengths, unacked_count
from kernel.exceptions import error_body
from kernel.replica import replica_reads
from ops.models import CallbackFailure
from ops.selectors import sync_progress, sync_totals_by_status, syncs_running
from pipeline.selectors import in_flight_rows

logger = logging.getLogger(__name__)

SYNC_LABELS = ["sync_id", "site"]


class BusinessCollector:
    """Collected afresh on every scrape, from PostgreSQL and the broker."""

    def collect(self):
        up = GaugeMetricFamily("bulk_source_up", "Whether the scrape could read the source (1) or not (0).",
                               labels=["source"])  # fmt: skip
        try:
            with replica_reads(user_id=None):  # the replica when one is configured and answers
                families = list(self._database())
            yield from families
            up.add_metric(["database"], 1)
        except Exception:  # noqa: BLE001 - a scrape reports the failure instead of failing whole
            logger.exception("metrics: database unreadable")
            up.add_metric(["database"], 0)
        try:
            yield from self._broker()
            up.add_metric(["broker"], 1)
        except Exception:  # noqa: BLE001
            logger.exception("metrics: broker unreadable")
            up.add_metric(["broker"], 0)
        yield up

    def _database(self):
        totals = sync_totals_by_status()
        syncs = GaugeMetricFamily("bulk_syncs", "Syncs by status.", labels=["status"])
        for status in ("pending", "active", "success", "warning", "error"):
            syncs.add_metric([status], totals.get(status, {}).get("syncs", 0))
        rows = CounterMetricFamily(
            "bulk_sync_rows", "Rows syncs have processed, by outcome (stored as created or updated, or rejected).",
            labels=["outcome"],
        )  # fmt: skip
        for outcome in ("created", "updated", "rejected"):
            rows.add_metric([outcome], sum(t[outcome] for t in totals.values()))
        families = {
            name: GaugeMetricFamily(f"bulk_running_sync_{name}", help_, labels=SYNC_LABELS)
            for name, help_ in (
                ("processed_rows", "Rows a running sync has processed (moves once per committed chunk)."),
                ("total_rows", "Rows in a running sync's snapshot."),
                ("rows_per_second", "A running sync's rows per second since it started."),
                ("eta_seconds", "Seconds a running sync still needs at that rate."),
                ("idle_seconds", "Seconds since a running sync last committed a chunk (stall sweep: "
                                 "BULK_SYNC_STALL_SECONDS)."),
            )
        }  # fmt: skip
        now = timezone.now()
        running = list(syncs_running())
        flight = in_flight_rows(s.pk for s in running)
        for sync in running:
            labels = [str(sync.pk), sync.site.name]
            progress = sync_progress(sync, now=now, in_flight=flight.get(sync.pk, 0))
            families["processed_rows"].add_metric(labels, progress.done)
            families["total_rows"].add_metric(labels, progress.total)
            for name in ("rows_per_second", "eta_seconds", "idle_seconds"):
                value = getattr(progress, name)
                if value is not None:
                    families[name].add_metric(labels, value)
        failures = CounterMetricFamily(
            "bulk_sync_callback_failures", "Failed sync callback attempts; final: given up, no retry follows.",
            labels=["final"],
        )  # fmt: skip
        given_up = CallbackFailure.objects.filter(final=True).count()
        failures.add_metric(["false"], CallbackFailure.objects.count() - given_up)
        failures.add_metric(["true"], given_up)
        yield from (syncs, rows, *families.values(), failures)

    def _broker(self):
        depth = GaugeMetricFamily("bulk_celery_queue_length", "Messages waiting in a Celery queue.", labels=["queue"])
        if settings.BROKER_IS_RABBITMQ:
            for queue, length in amqp_queue_lengths().items():
                depth.add_metric([queue], length)
            yield depth
            return
        client = broker_client()
        for queue, length in queue_lengths(client).items():
            depth.add_metric([queue], length)
        unacked = GaugeMetricFamily(
            "bulk_celery_unacked_messages", "Messages workers have taken and not yet acknowledged (running or prefetched)."
        )  # fmt: skip
        unacked.add_metric([], unacked_count(client))
        yield from (depth, unacked)


class _ProcessRegistry:
    """This process's own metrics (django-prometheus's, process_*), when not in multiprocess mode."""

    def collect(self):
        yield from REGISTRY.collect()


def _authorized(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def metrics_view(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404
    if not _authorized(request, token):
        missing = not request.headers.get("Authorization")
        response = JsonResponse(
            error_body(
                "not_authenticated" if missing else "authentication_failed",
                "Metrics need Authorization: Bearer <METRICS_TOKEN>.",
            ),
            status=401,
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ProcessRegistry())
    registry.register(BusinessCollector())
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))  # text 0.0.4 or OpenMetrics
    return HttpResponse(encoder(registry), content_type=content_type)
