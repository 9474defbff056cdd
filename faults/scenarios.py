"""The fault matrix: each scenario imports a file with planted bad rows, injects one fault the way an
operator meets it, and checks the outcome (`Harness.check`). After a fault, the system must recover
by itself: nobody restarts a sync by hand."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import psycopg

from faults.harness import Dataset, Harness, Result, dataset

FRACTION = 0.3  # how far a sync is when the fault strikes


def _run_one(h: Harness, name: str, rows: int, fault: Callable[[Harness, str], None]) -> Result:
    data = dataset(name, rows)
    result = Result(name, data=data)
    uri = h.definition(name)
    h.upload(uri, data)
    sync = h.sync(uri)
    h.wait_processed(sync, FRACTION, rows)
    fault(h, sync)
    h.check(result, sync, data)
    return result


def worker_sigkill(h: Harness, rows: int) -> Result:
    """A worker machine dies: every process of it SIGKILLed mid-chunk; another worker starts."""

    def fault(h, sync):
        for w in h.live_workers():
            w.kill()
        h.start_worker()

    return _run_one(h, "worker-sigkill", rows, fault)


def worker_sigterm(h: Harness, rows: int) -> Result:
    """An operator stops the worker (SIGTERM: a warm shutdown); another one takes over."""

    def fault(h, sync):
        for w in h.live_workers():
            w.signal(signal.SIGTERM)
        for w in h.workers:
            w.wait(120)
        h.start_worker()

    return _run_one(h, "worker-sigterm", rows, fault)


def postgres_restart(h: Harness, rows: int) -> Result:
    """PostgreSQL restarted (fast shutdown: every connection cut) mid-sync."""

    def fault(h, sync):
        h.pg.stop("fast")
        time.sleep(2)
        h.pg.start()

    return _run_one(h, "postgres-restart", rows, fault)


def redis_outage(h: Harness, rows: int) -> Result:
    """Redis (the broker) stopped for 5 s and restarted empty: every queued message is lost."""

    def fault(h, sync):
        h.redis.stop()
        time.sleep(5)
        h.redis.start()

    return _run_one(h, "redis-outage", rows, fault)


def clean(h: Harness, rows: int) -> Result:
    """No fault: an import and its sync end to end (the baseline of every other engine setup)."""
    return _run_one(h, "clean", rows, lambda h, sync: None)


def rabbitmq_restart(h: Harness, rows: int) -> Result:
    """The RabbitMQ node stopped and started again mid-sync (its quorum queues on disk): the queued
    chunk messages come back, and with no beat running nothing else could resume a lost one."""

    def fault(h, sync):
        if h.rabbit is None:
            raise RuntimeError("rabbitmq-restart needs --broker rabbitmq")
        types = h.rabbit.queue_types()
        if any(types.get(q) != "quorum" for q in ("celery", "bulk")):
            raise RuntimeError(f"the task queues are not quorum queues: {types}")
        h.rabbit.stop()
        time.sleep(2)
        h.rabbit.start()

    return _run_one(h, "rabbitmq-restart", rows, fault)


def lost_message(h: Harness, rows: int) -> Result:
    """A sync's queued chunk message is lost (deleted from the broker): beat resumes the lane."""
    name = "lost-message"
    data = dataset(name, rows)
    result = Result(name, data=data)
    uri = h.definition(name)
    h.upload(uri, data)
    for w in h.live_workers():
        w.stop(timeout=120)  # nobody takes the message...
    sync = h.sync(uri)
    _redis_command(h, b"DEL", b"bulk")  # ...and it is lost
    h.start_worker()
    h.check(result, sync, data)
    return result


def api_killed_mid_upload(h: Harness, rows: int) -> Result:
    """gunicorn killed while an upload streams in: nothing of it staged; the client's retry (same
    Idempotency-Key) stages it once."""
    name = "api-killed-mid-upload"
    data = dataset(name, rows)
    result = Result(name, data=data)
    uri = h.definition(name)
    body = data.csv()
    h.send_partial(uri, body, len(body) // 2, then=h.restart_api)
    if h.staged(uri):
        result.problems.append(f"{h.staged(uri)} rows of a cut-off upload were staged")
    h.upload(uri, data, key=f"{name}-1")
    h.upload(uri, data, key=f"{name}-1")  # a retry: replayed, not staged again
    h.check(result, h.sync(uri), data)
    return result


def client_disconnect(h: Harness, rows: int) -> Result:
    """A client drops its connection halfway through an upload: nothing of it staged."""
    name = "client-disconnect"
    data = dataset(name, rows)
    result = Result(name, data=data)
    uri = h.definition(name)
    body = data.csv()
    for cut in (len(body) // 3, len(body) - 1):
        h.send_partial(uri, body, cut)
        time.sleep(1)
        if h.staged(uri):
            result.problems.append(f"{h.staged(uri)} rows of an upload cut at byte {cut} were staged")
            return result
    h.upload(uri, data)
    h.check(result, h.sync(uri), data)
    return result


def retried_upload(h: Harness, rows: int) -> Result:
    """A client times out waiting for an upload's answer and sends it again with its Idempotency-Key:
    the rows are staged once."""
    name = "retried-upload"
    data = dataset(name, rows)
    result = Result(name, data=data)
    uri = h.definition(name)
    h.send_unread(uri, data.csv(), key=f"{name}-1")
    _wait(lambda: h.staged(uri) == len(data.rows), 60)
    retry = h.upload(uri, data, key=f"{name}-1")
    if retry.headers.get("Idempotent-Replayed") != "true":
        result.problems.append("the retried upload was not answered as a replay")
    if h.staged(uri) != len(data.rows):
        result.problems.append(f"{h.staged(uri)} rows staged for {len(data.rows)} uploaded")
    h.check(result, h.sync(uri), data)
    return result


def overlapping_syncs(h: Harness, rows: int) -> Result:
    """Two definitions whose files share most identifiers, synced at once: every identifier stored
    once, each record wholly one file's values, created/updated counted by what happened."""
    name = "overlap"
    result = Result(name)
    # No new-without-name rows here: on an identifier the other file may have created first such a
    # row is an update (an empty name never clears a stored one), so its outcome depends on the race.
    kinds = ("amount", "stage", "duplicate", "empty")
    a = dataset(name, rows, tag="A", kinds=kinds)
    b = dataset(name, rows, start=rows // 5, tag="B", bad_every=89, kinds=kinds)
    uris = [h.definition(f"{name}-a"), h.definition(f"{name}-b")]
    for uri, data in zip(uris, (a, b), strict=True):
        h.upload(uri, data)
    syncs = [h.sync(uri) for uri in uris]
    for sync in syncs:
        h.wait_done(sync)
    docs = [h.check(result, sync, data, sources=[a, b]) for sync, data in zip(syncs, (a, b), strict=True)]
    result.stored //= 2  # both checks counted the same records
    created = sum(d["progress"]["created"] for d in docs)
    distinct = len(set(a.good) | set(b.good))
    if created != distinct:
        result.problems.append(f"{created} created in all for {distinct} distinct identifiers")
    return result


def definition_deleted(h: Harness, rows: int) -> Result:
    """Someone deletes the definition of a running sync (API, and straight in the database): refused;
    the sync goes on and its staged rows are never orphaned."""

    def fault(h, sync):
        uri = h.poll(sync)["syncedInstanceUri"]
        h.call("DELETE", uri, 409)
        try:
            with psycopg.connect(h.pg.url, autocommit=True) as conn:
                conn.execute("DELETE FROM bulkapi_importdefinition WHERE id = %s", [int(uri.rsplit("/", 1)[1])])
            raise AssertionError("the database let a definition with a running sync be deleted")
        except psycopg.errors.RestrictViolation:
            pass

    return _run_one(h, "definition-deleted", rows, fault)


def _wait(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.2)


def _redis_command(h: Harness, *parts: bytes) -> bytes:
    import socket

    payload = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
    with socket.create_connection((h.redis.host, h.redis.port), timeout=5) as s:
        s.sendall(payload)
        return s.recv(64)


SCENARIOS: dict[str, Callable[[Harness, int], Result]] = {
    "worker-sigkill": worker_sigkill,
    "worker-sigterm": worker_sigterm,
    "postgres-restart": postgres_restart,
    "redis-outage": redis_outage,
    "api-killed-mid-upload": api_killed_mid_upload,
    "client-disconnect": client_disconnect,
    "overlap": overlapping_syncs,
    "definition-deleted": definition_deleted,
    "lost-message": lost_message,
    "retried-upload": retried_upload,
    "clean": clean,
    "rabbitmq-restart": rabbitmq_restart,
}
# What `make faults` runs when no --scenarios are named: the Redis setup's matrix.
DEFAULT_SCENARIOS = [name for name in SCENARIOS if name not in ("clean", "rabbitmq-restart")]


def checker_self_test(h: Harness, data: Dataset, prefix: str) -> list[str]:
    """Break the invariants on purpose (a stored row deleted, one duplicated in another letter case)
    and show that the checks see it: a check that cannot fail proves nothing."""
    with psycopg.connect(h.pg.url, autocommit=True) as conn:
        victim, twin = list(data.good.values())[:2]
        conn.execute("DELETE FROM opportunities_opportunity WHERE external_id = %s", [victim["OpportunityID"]])
        conn.execute(
            "INSERT INTO opportunities_opportunity (site_id, external_id, name, amount, stage_id)"
            " SELECT site_id, upper(external_id), name, amount, stage_id FROM opportunities_opportunity"
            " WHERE external_id = %s",
            [twin["OpportunityID"]],
        )
    probe = Result("self-test")
    h.compare_stored(probe, prefix, [data])
    found = []
    if probe.lost != 1:
        found.append(f"a deleted row was counted as {probe.lost} lost")
    if probe.duplicated != 1:
        found.append(f"a duplicated row was counted as {probe.duplicated} duplicated")
    return found
