"""The processes a fault matrix runs and breaks: its own PostgreSQL and Redis (so it may stop and
restart them), gunicorn, Celery workers and beat, each a real process started as an operator would."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what}: not within {timeout:.0f} s")


def _pg_bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if found:
        return found[-1].parent
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        return Path(pg_ctl).parent
    raise RuntimeError("PostgreSQL server binaries not found (make test/make run install them)")


class Postgres:
    """A throwaway cluster in a temp dir. PostgreSQL refuses to run as root: as root it runs as the
    `postgres` system user."""

    def __init__(self, workdir: Path, *, host: str = "127.0.0.1", netns: str = "", clients: str = ""):
        """`host`: the address it listens on; `netns`: the network namespace it runs in (`ip netns`);
        `clients`: a subnet (CIDR) whose hosts may connect too, besides loopback."""
        self.bindir = _pg_bindir()
        self.dir = Path(tempfile.mkdtemp(prefix="faults-pg-", dir="/tmp"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.host, self.netns, self.clients = host, netns, clients
        self.user = "postgres" if os.geteuid() == 0 else None
        self.log = workdir / "postgres.log"

    def _as_pg(self, *argv: str) -> list[str]:
        argv = ["runuser", "-u", self.user, "--", *argv] if self.user else list(argv)
        return in_netns(self.netns, argv)

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(self._as_pg(*argv), cwd="/", capture_output=True, text=True, check=check)

    def init(self) -> None:
        os.chmod(self.dir, 0o755)
        if self.user:
            shutil.chown(self.dir, self.user)
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        conf = self.data / "postgresql.conf"
        with open(conf, "a") as f:
            f.write(
                f"\nlisten_addresses = '{self.host}'\nport = {self.port}\nunix_socket_directories = '{self.dir}'\n"
                "max_connections = 200\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )
        if self.clients:
            with open(self.data / "pg_hba.conf", "a") as f:
                f.write(f"host all all {self.clients} trust\n")
        self.start()
        subprocess.run(
            in_netns(self.netns, [str(self.bindir / "psql"), "-X", "-q", "-h", self.host, "-p", str(self.port), "-U", "postgres",
             "-c", "CREATE DATABASE faults"]),
            check=True, capture_output=True,
        )  # fmt: skip

    @property
    def url(self) -> str:
        return f"postgres://postgres@{self.host}:{self.port}/faults"

    def start(self) -> None:
        log = self.dir / "server.log"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def destroy(self) -> None:
        self.stop("immediate")
        with contextlib.suppress(OSError):
            shutil.copy(self.dir / "server.log", self.log)
        shutil.rmtree(self.dir, ignore_errors=True)


class Redis:
    """A Redis that keeps nothing on disk: restarted, it is empty (its messages lost)."""

    def __init__(self, workdir: Path, *, host: str = "127.0.0.1", netns: str = ""):
        self.port = free_port()
        self.host, self.netns = host, netns
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if not binary:
            raise RuntimeError("redis-server not found (make test/make run install it)")
        self.proc = subprocess.Popen(
            in_netns(self.netns, [binary, "--bind", self.host, "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log"),
             # on a host's address, clients come from other hosts (a private network, no password)
             "--protected-mode", "yes" if self.host == "127.0.0.1" else "no"]),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        wait_until(self.ping, 20, "redis start")

    def ping(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class Process:
    """One server process (and its children, in its own process group)."""

    def __init__(self, name: str, argv: list[str], env: dict, workdir: Path):
        self.name, self.argv, self.env, self.workdir = name, argv, env, workdir
        self.proc: subprocess.Popen | None = None
        self.log = None

    def start(self) -> None:
        self.log = open(self.workdir / f"{self.name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.argv, cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int, group: bool = False) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                if group:
                    os.killpg(self.proc.pid, sig)
                else:
                    self.proc.send_signal(sig)

    def wait(self, timeout: float) -> bool:
        try:
            self.proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def kill(self) -> None:
        """SIGKILL to the process and every child: a crash, nothing handed back."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
        self._close()

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM to the main process (a warm shutdown), SIGKILL to whatever is left after `timeout`."""
        if self.alive():
            self.signal(signal.SIGTERM)
            if not self.wait(timeout):
                self.kill()
        with contextlib.suppress(ProcessLookupError, AttributeError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._close()

    def _close(self) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None


def python() -> str:
    candidate = VENV_BIN / "python"
    return str(candidate) if candidate.exists() else sys.executable


def in_netns(netns: str, argv: list[str]) -> list[str]:
    """`argv` run inside the network namespace `netns` (`ip netns exec` execs it: same pid), or as
    it is when `netns` is empty."""
    return ["ip", "netns", "exec", netns, *argv] if netns else argv


def gunicorn(
    env: dict, port: int, workdir: Path, *, host: str = "127.0.0.1", netns: str = "", name: str = "api"
) -> Process:
    argv = [python(), "-m", "gunicorn", "config.wsgi:application", "--config", "python:config.gunicorn",
            "--worker-class", "config.gunicorn.JsonErrorWorker", "--bind", f"{host}:{port}",
            "--workers", "2", "--timeout", "120"]  # fmt: skip
    return Process(name, in_netns(netns, argv), env, workdir)


def worker(env: dict, workdir: Path, n: int, *, netns: str = "", concurrency: int = 2, name: str = "") -> Process:
    name = name or f"worker{n}"
    argv = [python(), "-m", "celery", "-A", "config", "worker", "-Q", "celery,bulk", "-c", str(concurrency),
            "-n", f"faults{n}@%h", "--without-gossip", "--without-mingle", "--loglevel=INFO"]  # fmt: skip
    return Process(name, in_netns(netns, argv), env, workdir)


def beat(env: dict, workdir: Path, *, netns: str = "") -> Process:
    argv = [python(), "-m", "celery", "-A", "config", "beat", "--loglevel=INFO",
            "--schedule", str(workdir / "celerybeat-schedule")]  # fmt: skip
    return Process("beat", in_netns(netns, argv), env, workdir)


def _apt_install(package: str) -> bool:
    """Install a Debian package when apt-get is usable (root), as scripts/with-services.sh does."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
    if subprocess.run(apt, env=env, capture_output=True).returncode == 0:
        return True
    subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
    return subprocess.run(apt, env=env, capture_output=True).returncode == 0


def missing_engine(name: str) -> str | None:
    """Why the engine `name` ("rabbitmq", "pgbouncer") cannot be started here, or None when it can
    (installing its Debian package first when it is missing and apt-get is usable)."""
    binary = {"rabbitmq": "rabbitmq-server", "pgbouncer": "pgbouncer"}[name]
    package = {"rabbitmq": "rabbitmq-server", "pgbouncer": "pgbouncer"}[name]
    found = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/lib/rabbitmq/bin")
    if not found and not _apt_install(package):
        return f"{binary} is not installed and apt-get is not usable here (install the Debian package {package})"
    if (
        os.geteuid() == 0
        and name == "rabbitmq"
        and subprocess.run(["id", "-u", "rabbitmq"], capture_output=True).returncode
    ):
        return "running as root without a `rabbitmq` system user to run the node as"
    return None


class RabbitMQ:
    """A private RabbitMQ node (its own node name, ports and data dir), so a test may stop and
    restart it: messages of durable (quorum) queues must come back. As root it runs as the
    `rabbitmq` system user, sharing that user's Erlang cookie with its own CLI calls only."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.dir = Path(tempfile.mkdtemp(prefix="bulk-rabbit-", dir="/tmp"))
        self.port, self.dist_port = free_port(), free_port()
        self.node = f"bulk{os.getpid()}x{self.port}@localhost"
        self.user = "rabbitmq" if os.geteuid() == 0 else None
        bindir = Path("/usr/lib/rabbitmq/bin")
        self.server = str(bindir / "rabbitmq-server") if bindir.exists() else shutil.which("rabbitmq-server")
        self.ctl = str(bindir / "rabbitmqctl") if bindir.exists() else shutil.which("rabbitmqctl")
        self.proc: subprocess.Popen | None = None
        (self.dir / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            "loopback_users = none\n"
            # RabbitMQ's default, stated: a task unacked this long loses its channel (settings.py
            # refuses a CELERY_TASK_TIME_LIMIT at or past RABBITMQ_CONSUMER_TIMEOUT_SECONDS).
            "consumer_timeout = 1800000\n"
        )
        (self.dir / "enabled_plugins").write_text("[].\n")
        os.chmod(self.dir, 0o755)
        if self.user:
            for path in (self.dir, self.dir / "rabbitmq.conf", self.dir / "enabled_plugins"):
                shutil.chown(path, self.user)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def _env(self) -> dict:
        home = "/var/lib/rabbitmq" if self.user else str(self.dir)
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "LANG": "C.UTF-8",
            "RABBITMQ_NODENAME": self.node, "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port), "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"), "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.dir / "node.pid"),
        }  # fmt: skip

    def _argv(self, *argv: str) -> list[str]:
        return ["runuser", "-u", self.user, "--", *argv] if self.user else list(argv)

    def start(self) -> None:
        log = open(self.workdir / "rabbitmq.log", "ab")  # noqa: SIM115 - the node's lifetime
        self.proc = subprocess.Popen(
            self._argv(self.server), cwd="/", env=self._env(), stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        wait_until(lambda: (self.dir / "node.pid").exists() or self.proc.poll() is not None, 30, "rabbitmq pid file")
        done = subprocess.run(
            self._argv(self.ctl, "-n", self.node, "wait", str(self.dir / "node.pid"), "--timeout", "60"),
            cwd="/", env=self._env(), capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode:
            raise RuntimeError(f"rabbitmq node {self.node} did not start: {done.stdout}{done.stderr}")

    def queue_types(self) -> dict[str, str]:
        """Each queue's type (classic, quorum, stream), as the node reports it."""
        done = subprocess.run(
            self._argv(self.ctl, "-n", self.node, "list_queues", "name", "type", "--quiet", "--no-table-headers"),
            cwd="/", env=self._env(), capture_output=True, text=True, check=True,
        )  # fmt: skip
        return dict(line.split("\t")[:2] for line in done.stdout.splitlines() if "\t" in line)

    def stop(self) -> None:
        """A clean stop of the whole node (as `systemctl restart` does), the Erlang VM included."""
        if self.proc is None or self.proc.poll() is not None:
            return
        subprocess.run(self._argv(self.ctl, "-n", self.node, "stop"), cwd="/", env=self._env(), capture_output=True)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        with contextlib.suppress(FileNotFoundError):
            (self.dir / "node.pid").unlink()

    def destroy(self) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            for log in (self.dir / "log").glob("*.log"):
                shutil.copy(log, self.workdir / f"rabbitmq-{log.name}")
        shutil.rmtree(self.dir, ignore_errors=True)


class PgBouncer:
    """A private PgBouncer in transaction mode in front of a PostgreSQL on 127.0.0.1:`pg_port`: one
    server session per transaction, none kept between them (what the code must live with). PgBouncer
    refuses to run as root: as root it runs as the `postgres` system user."""

    def __init__(self, workdir: Path, pg_port: int, *, pool_size: int = 20):
        self.workdir = workdir
        self.dir = Path(tempfile.mkdtemp(prefix="bulk-pgbouncer-", dir="/tmp"))
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        (self.dir / "userlist.txt").write_text('"postgres" ""\n')
        (self.dir / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host=127.0.0.1 port={pg_port}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {self.dir / 'userlist.txt'}\nadmin_users = postgres\n"
            # The settings docs/scaling.md gives: transaction pooling, no reset query needed
            # (nothing of a session outlives its transaction), prepared statements off (1.18).
            f"pool_mode = transaction\ndefault_pool_size = {pool_size}\nmax_client_conn = 500\n"
            "server_reset_query =\nserver_check_query = select 1\n"
            f"logfile = {self.dir / 'pgbouncer.log'}\npidfile = {self.dir / 'pgbouncer.pid'}\n"
        )
        os.chmod(self.dir, 0o755)
        if self.user:
            for path in (self.dir, *self.dir.iterdir()):
                shutil.chown(path, self.user)
        self.proc: subprocess.Popen | None = None

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        binary = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")
        argv = [binary, str(self.dir / "pgbouncer.ini")]
        if self.user:
            argv = ["runuser", "-u", self.user, "--", *argv]
        self.proc = subprocess.Popen(
            argv, cwd="/", stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip

        def answers() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pgbouncer exited: {(self.dir / 'pgbouncer.log').read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
            return False

        wait_until(answers, 20, "pgbouncer listening")

    def show(self, what: str) -> list[dict]:
        """`SHOW <what>` on PgBouncer's admin console (simple query protocol: psql)."""
        done = subprocess.run(
            [str(_pg_bindir() / "psql"), "-X", "-A", "-F", "\t", "-h", "127.0.0.1", "-p", str(self.port),
             "-U", "postgres", "-d", "pgbouncer", "-c", f"SHOW {what}"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        lines = [line.split("\t") for line in done.stdout.splitlines() if "\t" in line]
        return [dict(zip(lines[0], line, strict=False)) for line in lines[1:]]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        with contextlib.suppress(OSError):
            shutil.copy(self.dir / "pgbouncer.log", self.workdir / "pgbouncer.log")
        shutil.rmtree(self.dir, ignore_errors=True)
