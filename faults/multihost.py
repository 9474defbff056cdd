"""`python -m faults.multihost [--rows N] [--quick] [--scenarios a,b]` (`make scale-test`): the server
on several hosts, each a Linux network namespace on this machine (`faults.network`): a database
host (PostgreSQL and Redis, the broker), two API hosts (gunicorn), two worker hosts (Celery) and
beat. A client spreads each import's uploads over both API hosts, then a scenario loses a host the
way an operator meets it (a link dropped and the processes frozen, then killed), restarts the
broker, or has both worker hosts run one sync's lanes. After each: every row stored exactly once or
rejected with its reason, the counters adding up (`Harness.check`), and the sync moving again
within the stated bound after the loss (`Bound`). Prints a table; exit status 0 when all held."""

from __future__ import annotations

import argparse
import csv
import http.client
import io
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import requests

from faults.cluster import ROOT, Postgres, Process, Redis, beat, gunicorn, wait_until, worker
from faults.harness import FIELDS, TOKEN, Dataset, Harness, Result, dataset
from faults.network import Network, missing

HOSTS = ["db", "api1", "api2", "worker1", "worker2", "beat"]
APIS = ("api1", "api2")
WORKERS = ("worker1", "worker2")
FRACTION = 0.3  # how far a sync is when a fault strikes
LANE_LOCK_WAIT_MS = 5000  # pipeline.services.run.LANE_LOCK_WAIT_MS (not imported: no Django here)
KILL_AFTER = 5.0  # a frozen host's processes are killed this long after it was cut off (its link stays down)


@dataclass
class Bound:
    """The server-side settings that end a lost host's sessions (config/settings.py
    `DB_LOST_CLIENT_SETTINGS`), the stall sweep's, and what they bound."""

    idle_in_transaction: int = 60
    keepalives_idle: int = 30
    keepalives_interval: int = 10
    keepalives_count: int = 3
    client_check: int = 10
    stall: int = 20
    resume: int = 5
    margin: int = 20  # a chunk or two on a busy 2-core machine, the sweep's own query, reconnects

    def env(self) -> dict[str, str]:
        return {
            "DB_IDLE_IN_TRANSACTION_SECONDS": str(self.idle_in_transaction),
            "DB_TCP_KEEPALIVES_IDLE": str(self.keepalives_idle),
            "DB_TCP_KEEPALIVES_INTERVAL": str(self.keepalives_interval),
            "DB_TCP_KEEPALIVES_COUNT": str(self.keepalives_count),
            "DB_CLIENT_CHECK_SECONDS": str(self.client_check),
            "BULK_SYNC_STALL_SECONDS": str(self.stall),
            "BULK_SYNC_RESUME_SECONDS": str(self.resume),
        }

    @property
    def release(self) -> float:
        """A lost host's transaction ends by then: idle in it, at idle_in_transaction_session_timeout;
        inside a statement (or a COPY waiting for its data), when keepalive finds the peer dead
        (idle + interval x count) and the next client check (or the blocked read) sees it."""
        dead = self.keepalives_idle + self.keepalives_interval * self.keepalives_count + self.client_check
        return max(self.idle_in_transaction, dead)

    @property
    def lane_moves(self) -> float:
        """A lost host's lane commits a chunk again by then: its lock released and its lane stale
        (side by side), the sweep's next tick, one lane-lock wait, and the margin."""
        return max(self.release, self.stall) + self.resume + LANE_LOCK_WAIT_MS / 1000 + self.margin

    @property
    def broker_back(self) -> float:
        """After a broker restart that lost every queued message: stale, swept, and a chunk."""
        return self.stall + self.resume + self.margin

    def describe(self) -> str:
        return (
            f"idle_in_transaction_session_timeout {self.idle_in_transaction} s, tcp_keepalives"
            f" {self.keepalives_idle}/{self.keepalives_interval}/{self.keepalives_count},"
            f" client_connection_check_interval {self.client_check} s (a lost session ends within"
            f" {self.release:.0f} s); stall {self.stall} s, sweep every {self.resume} s"
        )


@dataclass
class HostResult(Result):
    recover: float | None = None  # seconds from the loss to the sync moving again
    bound: float | None = None
    released: float | None = None  # seconds from the loss to the lost host's transaction ending
    note: str = ""

    @property
    def ok(self) -> bool:
        late = self.recover is not None and self.bound is not None and self.recover > self.bound
        return super().ok and not late


def rows_csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(FIELDS), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def parts_of(data: Dataset, n: int) -> list[bytes]:
    size = -(-len(data.rows) // n)
    return [rows_csv(data.rows[i : i + size]) for i in range(0, len(data.rows), size)]


class MultiHostHarness(Harness):
    """`faults.harness.Harness` with its processes on the hosts of a `Network`."""

    def __init__(self, workdir, *, chunk_rows: int, bound: Bound, workers_per_host: int = 1):
        self.net = Network(HOSTS)
        db, db_ns = self.net.address["db"], self.net.ns("db")
        workdir.mkdir(parents=True, exist_ok=True)
        super().__init__(
            workdir,
            chunk_rows=chunk_rows,
            stall_seconds=bound.stall,
            pg=Postgres(workdir, host=db, netns=db_ns, clients=str(self.net.subnet)),
            redis=Redis(workdir, host=db, netns=db_ns),
            api_host=self.net.address["api1"],
        )
        self.bound = bound
        self.workers_per_host = workers_per_host
        self.env.update(bound.env())
        self.env["DJANGO_ALLOWED_HOSTS"] = ",".join([self.net.address[h] for h in APIS] + ["127.0.0.1", "localhost"])
        self.apis: dict[str, Process] = {}
        self.on_host: dict[str, Process] = {}  # worker host -> its celery worker

    # --- hosts ---------------------------------------------------------------------------------

    def up(self) -> None:
        removed = self.net.up()
        if removed:
            print(f"scale: removed leftovers of an earlier run: {', '.join(removed)}", flush=True)
        self.pg.init()
        self.redis.start()
        self.env["DATABASE_URL"], self.env["REDIS_URL"] = self.pg.url, self.redis.url
        import psycopg

        with psycopg.connect(self.pg.url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pgrowlocks")  # who holds which lane (chunk_sessions)
        self.manage(
            "shell", "-c",
            "from django.core.management import call_command as c; c('migrate', '--noinput', verbosity=0); "
            f"c('createsite', 'Faults', '--user', 'faults', '--password', 'fault-matrix-pass', '--token', {TOKEN!r})",
        )  # fmt: skip
        for host in APIS:
            self.start_api(host)
        for host in WORKERS:
            self.start_worker(host)
        self.beat = beat(self.env, self.workdir, netns=self.net.ns("beat"))
        self.beat.start()
        for host in APIS:
            wait_until(lambda h=host: self.healthy_on(h), 90, f"{host} answering /health")

    def down(self) -> None:
        try:
            for proc in [*self.on_host.values(), self.beat, *self.apis.values()]:
                if proc is not None:
                    proc.kill()
            self.redis.stop()
            self.pg.destroy()
        finally:
            self.net.down()

    def start_api(self, host: str) -> None:
        addr = self.net.address[host]
        self.apis[host] = gunicorn(self.env, self.port, self.workdir, host=addr, netns=self.net.ns(host), name=host)
        self.apis[host].start()

    def start_worker(self, host: str | None = None) -> Process:
        """A celery worker on `host` (or on the first worker host with none running)."""
        host = host or next((h for h in WORKERS if not (self.on_host.get(h) and self.on_host[h].alive())), WORKERS[0])
        self._workers_started += 1
        proc = worker(
            self.env, self.workdir, self._workers_started, netns=self.net.ns(host), concurrency=self.workers_per_host,
            name=host,
        )  # fmt: skip
        proc.start()
        self.on_host[host] = proc
        self.workers = list(self.on_host.values())
        return proc

    def lose(self, host: str, proc: Process) -> float:
        """The host's link dropped at the switch and every process of it frozen (SIGSTOP): a hung VM.
        Returns the moment it happened."""
        self.net.cut(host)
        proc.signal(signal.SIGSTOP, group=True)
        return time.monotonic()

    def restore(self, host: str) -> None:
        """The host back on its link, with fresh processes."""
        self.net.mend(host)
        if host in APIS:
            self.start_api(host)
            wait_until(lambda: self.healthy_on(host), 90, f"{host} back")
        else:
            self.start_worker(host)

    def host_of(self, addr: str | None) -> str | None:
        return next((h for h, a in self.net.address.items() if a == addr), None)

    def base_of(self, host: str) -> str:
        return f"http://{self.net.address[host]}:{self.port}"

    def healthy_on(self, host: str) -> bool:
        try:
            return requests.get(f"{self.base_of(host)}/health", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    # --- the client ----------------------------------------------------------------------------

    def post_part(self, host: str, uri: str, body: bytes) -> None:
        response = requests.post(
            f"{self.base_of(host)}/api/bulk/2.0{uri}/data",
            data=body,
            headers={**self.headers, "Content-Type": "text/csv"},
            timeout=180,
        )
        if response.status_code != 204:
            raise AssertionError(f"upload to {host} -> {response.status_code}: {response.text[:300]}")

    def upload_spread(self, uri: str, data: Dataset, parts: int = 4) -> None:
        """The file in `parts` POSTs, alternating API hosts."""
        for i, body in enumerate(parts_of(data, parts)):
            self.post_part(APIS[i % 2], uri, body)

    # --- what PostgreSQL sees ------------------------------------------------------------------

    def chunk_sessions(self, sync_id: int) -> list[tuple[str | None, int, int]]:
        """(host, lane, backend pid) of every session holding a lane of the sync (its row locked FOR
        UPDATE for the chunk's transaction: `pipeline.services.run._run`), from pgrowlocks."""
        rows = self.sql(
            "SELECT host(a.client_addr), l.lane, a.pid FROM syncs_synclane l"
            " JOIN pgrowlocks('syncs_synclane') r ON r.locked_row = l.ctid"
            " JOIN pg_stat_activity a ON a.pid = ANY(r.pids) WHERE l.sync_id = %s",
            [sync_id],
        )
        return [(self.host_of(addr), lane, pid) for addr, lane, pid in rows]

    def lane_positions(self, sync_id: int) -> dict[int, int]:
        return dict(self.sql("SELECT lane, next_range FROM syncs_synclane WHERE sync_id = %s", [sync_id]))

    def in_transaction(self, pid: int) -> bool:
        return bool(self.sql("SELECT 1 FROM pg_stat_activity WHERE pid = %s AND xact_start IS NOT NULL", [pid]))

    def status(self, sync_id: int) -> str:
        return self.sql("SELECT status FROM syncs_sync WHERE id = %s", [sync_id])[0][0]


def _sync_id(uri: str) -> int:
    return int(uri.rsplit("/", 1)[1])


# --- scenarios ---------------------------------------------------------------------------------


def _synced(h: MultiHostHarness, name: str, rows: int, bound: float | None = None):
    """A scenario's start: its rows uploaded over both API hosts and a sync of them started;
    returns (data, result, sync, sync id)."""
    data = dataset(name, rows)
    result = HostResult(name, data=data) if bound is None else HostResult(name, data=data, bound=bound)
    uri = h.definition(name)
    h.upload_spread(uri, data)
    sync = h.sync(uri)
    return data, result, sync, _sync_id(sync)


def worker_host_cut(h: MultiHostHarness, rows: int) -> HostResult:
    """A worker host cut off mid-chunk (its link dropped, its worker frozen, then killed with the
    link still down): the lane it held moves again within the bound, on the other host."""
    data, result, sync, sid = _synced(h, "worker-host-cut", rows, bound=h.bound.lane_moves)
    h.wait_processed(sync, FRACTION, rows)

    def running():
        return next(((host, lane, pid) for host, lane, pid in h.chunk_sessions(sid) if host in WORKERS), None)

    def frozen_holding():
        """A worker host frozen while it holds a lane (a COMMIT already on its way may still land:
        then it is thawed and another moment is tried)."""
        found = running()
        if found is None:
            return None
        host, lane, pid = found
        h.on_host[host].signal(signal.SIGSTOP, group=True)
        time.sleep(0.3)
        if (host, lane, pid) in h.chunk_sessions(sid):
            return found
        h.on_host[host].signal(signal.SIGCONT, group=True)
        return None

    host, lane, pid = wait_until(frozen_holding, 120, "a worker host frozen holding a lane", interval=0.01)
    before = h.lane_positions(sid)[lane]
    lost = h.lose(host, h.on_host[host])
    killed = False
    while True:
        now = time.monotonic() - lost
        if not killed and now >= KILL_AFTER:
            h.on_host[host].kill()  # nothing reaches the database: the link is down
            killed = True
        if result.released is None and not h.in_transaction(pid):
            result.released = now
        if h.lane_positions(sid)[lane] > before or h.status(sid) in ("success", "warning", "error"):
            result.recover = now
            break
        if now > result.bound + 60:
            result.problems.append(f"lane {lane} did not move within {now:.0f} s of losing {host}")
            break
        time.sleep(0.2)
    if not killed:
        time.sleep(max(0.0, KILL_AFTER - (time.monotonic() - lost)))
        h.on_host[host].kill()
    if result.recover is None:
        result.note = f"{host} lost holding lane {lane}; its transaction still open after {now:.0f} s"
        return result  # the sync cannot end while the lost host holds its lane
    result.note = f"{host} lost holding lane {lane}; its transaction ended after {result.released or 0:.1f} s"
    h.check(result, sync, data)
    h.restore(host)
    return result


def api_host_lost(h: MultiHostHarness, rows: int) -> HostResult:
    """An API host lost in the middle of an upload (its COPY open, holding the definition FOR SHARE):
    the client sends that part again to the other host, and starts the sync, which waits for the
    lost upload's transaction to end: within the bound, and nothing of the lost part is staged."""
    name = "api-host-lost"
    data = dataset(name, rows)
    result = HostResult(name, data=data, bound=h.bound.release + h.bound.margin)
    uri = h.definition(name)
    bodies = parts_of(data, 4)
    if len(bodies[2]) <= 64 * 1024:
        raise ValueError("api-host-lost needs parts of over 64 KiB (2,800 rows or more)")
    h.post_part("api1", uri, bodies[0])
    h.post_part("api2", uri, bodies[1])
    addr = h.net.address["api2"]
    conn = http.client.HTTPConnection(addr, h.port, timeout=30)
    conn.putrequest("POST", f"/api/bulk/2.0{uri}/data")
    for k, v in {**h.headers, "Content-Type": "text/csv", "Content-Length": str(len(bodies[2]))}.items():
        conn.putheader(k, v)
    conn.endheaders()
    # All but its last byte: past the first 64 KiB block read from the request, the COPY runs.
    conn.send(bodies[2][:-1])

    def copying():
        return h.sql(
            "SELECT pid FROM pg_stat_activity WHERE host(client_addr) = %s AND query LIKE 'COPY%%'"
            " AND state = 'active'",
            [addr],
        )

    pid = wait_until(copying, 30, "the upload's COPY running on api2")[0][0]
    lost = h.lose("api2", h.apis["api2"])
    conn.sock.close()  # the client gives up on it
    h.post_part("api1", uri, bodies[2])  # and sends it again, to the other host
    h.post_part("api1", uri, bodies[3])
    started: list[str] = []

    # The sync's snapshot waits (FOR UPDATE) for the lost upload's transaction to end.
    def start_sync():
        started.append(h.sync(uri))
        result.recover = time.monotonic() - lost

    starter = threading.Thread(target=start_sync, daemon=True)
    starter.start()
    killed = False
    while starter.is_alive() or result.released is None:
        now = time.monotonic() - lost
        if not killed and now >= KILL_AFTER:
            h.apis["api2"].kill()  # nothing reaches the database: the link is down
            killed = True
        if result.released is None and not h.sql("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]):
            result.released = now
        if now > result.bound + 120:
            break
        time.sleep(0.1)
    if not killed:
        h.apis["api2"].kill()
    if not started:
        result.problems.append(f"the sync did not start within {time.monotonic() - lost:.0f} s of losing api2")
        return result
    result.note = f"api2's COPY ended {result.released:.1f} s after api2 was lost; the sync started then"
    h.check(result, started[0], data)
    h.restore("api2")
    return result


def broker_restart(h: MultiHostHarness, rows: int) -> HostResult:
    """Redis (the broker) restarted mid-sync, empty: every queued message lost; beat's sweep resumes
    the lanes and the sync moves again within the bound."""
    data, result, sync, sid = _synced(h, "broker-restart", rows, bound=h.bound.broker_back)
    h.wait_processed(sync, FRACTION, rows)
    h.redis.stop()
    stopped = time.monotonic()
    time.sleep(2)
    h.redis.start()
    before = h.lane_positions(sid)
    # Chunks running at the restart may still commit: the sync has moved again once a chunk starts
    # and commits after the restart, i.e. a lane passes where it stood once they were done.
    time.sleep(1)
    before = h.lane_positions(sid)

    def moved():
        now = h.lane_positions(sid)
        return any(now[k] > v for k, v in before.items()) or h.status(sid) in ("success", "warning", "error")

    try:
        wait_until(moved, result.bound + 60, "the sync moving after the broker restart", interval=0.2)
        result.recover = time.monotonic() - stopped
    except TimeoutError as exc:
        result.problems.append(str(exc))
    h.check(result, sync, data)
    return result


def both_worker_hosts(h: MultiHostHarness, rows: int) -> HostResult:
    """One sync, its two lanes run by the two worker hosts at once (seen from pg_stat_activity)."""
    data, result, sync, sid = _synced(h, "both-worker-hosts", rows)
    seen: dict[str, set[int]] = {}
    together = 0
    stop = threading.Event()

    def sample():
        nonlocal together
        while not stop.is_set():
            hosts = set()
            for host, lane, _ in h.chunk_sessions(sid):
                seen.setdefault(host or "?", set()).add(lane)
                hosts.add(host)
            together += set(WORKERS) <= hosts
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        h.wait_done(sync)
    finally:
        stop.set()
        sampler.join()
    if not set(WORKERS) <= set(seen):
        result.problems.append(f"chunks ran on {sorted(seen)} only")
    if not together:
        result.problems.append("the two worker hosts never ran chunks of the sync at the same time")
    result.note = "; ".join(f"{host} ran lanes {sorted(lanes)}" for host, lanes in sorted(seen.items()))
    result.note += f"; both at once in {together} samples"
    h.check(result, sync, data)
    return result


SCENARIOS: dict[str, Callable[[MultiHostHarness, int], HostResult]] = {
    "both-worker-hosts": both_worker_hosts,
    "worker-host-cut": worker_host_cut,
    "api-host-lost": api_host_lost,
    "broker-restart": broker_restart,
}


# --- how long a chunk idles inside its transaction -------------------------------------------

_LOG = re.compile(
    r"^(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) \S+ \|(?P<pid>\d+)\|(?P<vxid>[^|]*)\|(?P<host>[^|]*)\|"
    r".*duration: (?P<ms>[\d.]+) ms"
)


def log_statements(h: MultiHostHarness, on: bool) -> None:
    """Every statement's duration in the server log (log_min_duration_statement = 0), or back off."""
    import psycopg

    with psycopg.connect(h.pg.url, autocommit=True) as conn:
        if on:
            conn.execute("ALTER SYSTEM SET log_min_duration_statement = 0")
            conn.execute("ALTER SYSTEM SET log_line_prefix = '%m |%p|%v|%h|'")
        else:
            conn.execute("ALTER SYSTEM RESET log_min_duration_statement")
            conn.execute("ALTER SYSTEM RESET log_line_prefix")
        conn.execute("SELECT pg_reload_conf()")


def idle_gaps(h: MultiHostHarness, hosts: tuple[str, ...] = WORKERS) -> tuple[float, int]:
    """The longest a worker host's session sat idle inside a transaction (from the end of one
    statement to the start of the next of the same transaction), in ms, and the transactions seen."""
    addrs = {h.net.address[x] for x in hosts}
    last: dict[tuple[str, str], datetime] = {}
    longest = 0.0
    for line in (h.pg.dir / "server.log").read_text(errors="replace").splitlines():
        m = _LOG.match(line)
        if not m or m["host"] not in addrs or not m["vxid"] or m["vxid"].endswith("/0"):
            continue
        end = datetime.strptime(m["at"], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
        start = end.timestamp() - float(m["ms"]) / 1000
        key = (m["pid"], m["vxid"])
        if key in last:
            longest = max(longest, (start - last[key].timestamp()) * 1000)
        last[key] = end
    return longest, len(last)


# --- the run -------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m faults.multihost", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=50_000, help="rows per sync (default 50,000)")
    parser.add_argument("--chunk-rows", type=int, default=None, help="BULK_SYNC_CHUNK_ROWS (default rows / 20)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated subset")
    parser.add_argument(
        "--quick", action="store_true", help="the suite's form: 3,000 rows, short timeouts (bound of ~25 s)"
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    if unknown := [n for n in names if n not in SCENARIOS]:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    if reason := missing():
        print(f"scale: cannot make network namespaces here: {reason}", file=sys.stderr)
        return 2
    rows = 3_000 if args.quick else args.rows
    chunk = args.chunk_rows or max(100, rows // 20)
    # The full run ships the production settings for a lost session (config/settings.py); the
    # suite's form scales them down to keep under a minute. The stall sweep is shortened in both
    # (production: 120 s stale, every 30 s): it is the same mechanism at any value.
    bound = (
        Bound(
            idle_in_transaction=3,
            keepalives_idle=2,
            keepalives_interval=1,
            keepalives_count=2,
            client_check=1,
            stall=4,
            resume=2,
            margin=15,
        )
        if args.quick
        else Bound()
    )
    workdir = ROOT / ".run" / f"scale-{int(time.time())}"
    h = MultiHostHarness(workdir, chunk_rows=chunk, bound=bound)
    print(
        f"scale: hosts {', '.join(f'{x} {h.net.address[x]}' for x in HOSTS)} on {h.net.subnet};"
        f" {rows:,} rows per sync in 4 uploads over both API hosts, chunks of {chunk:,} rows, 2 lanes;"
        f" {bound.describe()}; logs in {workdir}",
        flush=True,
    )
    results: list[HostResult] = []
    gaps = None
    try:
        h.up()
        for name in names:
            started = time.monotonic()
            print(f"scale: {name} ...", flush=True)
            if name == "both-worker-hosts":
                log_statements(h, True)
            try:
                result = SCENARIOS[name](h, rows)
            except Exception as exc:  # noqa: BLE001 - a scenario that crashes is a failed scenario
                result = HostResult(name, problems=[f"{type(exc).__name__}: {exc}"])
            if name == "both-worker-hosts":
                log_statements(h, False)
                gaps = idle_gaps(h)
            result.seconds = time.monotonic() - started
            results.append(result)
    finally:
        h.down()
    report(results, bound, gaps)
    return 0 if results and all(r.ok for r in results) else 1


def report(results: list[HostResult], bound: Bound, gaps: tuple[float, int] | None) -> None:
    header = (
        f"{'scenario':<18} | {'outcome':<7} | {'expected':>8} | {'stored':>7} | {'rejected':>8} | {'lost':>4} |"
        f" {'dup':>4} | {'recover s':>9} | {'bound s':>7} | {'s':>4}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for r in results:
        expected = len(r.data.good) + len(r.data.rejects) if r.data else 0
        recover = f"{r.recover:.1f}" if r.recover is not None else "-"
        limit = f"{r.bound:.0f}" if r.bound is not None else "-"
        print(
            f"{r.scenario:<18} | {'ok' if r.ok else 'FAILED':<7} | {expected:>8,} | {r.stored:>7,} | {r.rejected:>8,} |"
            f" {r.lost:>4} | {r.duplicated:>4} | {recover:>9} | {limit:>7} | {r.seconds:>4.0f}"
        )
        if r.note:
            print(f"{'':<18}   {r.note}")
        for problem in r.problems[:10]:
            print(f"{'':<18}   {problem}")
    print(f"\nbound: {bound.describe()}")
    if gaps is not None:
        print(f"longest idle inside a worker transaction: {gaps[0]:.0f} ms over {gaps[1]:,} transactions")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
