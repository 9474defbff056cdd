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

    def __init__(self, workdir: Path):
        self.bindir = _pg_bindir()
        self.dir = Path(tempfile.mkdtemp(prefix="faults-pg-", dir="/tmp"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        self.log = workdir / "postgres.log"

    def _as_pg(self, *argv: str) -> list[str]:
        return ["runuser", "-u", self.user, "--", *argv] if self.user else list(argv)

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
                f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\nunix_socket_directories = '{self.dir}'\n"
                "max_connections = 200\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )
        self.start()
        subprocess.run(
            [str(self.bindir / "psql"), "-X", "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
             "-c", "CREATE DATABASE faults"],
            check=True, capture_output=True,
        )  # fmt: skip

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/faults"

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

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if not binary:
            raise RuntimeError("redis-server not found (make test/make run install it)")
        self.proc = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        wait_until(self.ping, 20, "redis start")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
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


def gunicorn(env: dict, port: int, workdir: Path) -> Process:
    argv = [python(), "-m", "gunicorn", "config.wsgi:application", "--config", "python:config.gunicorn",
            "--worker-class", "config.gunicorn.JsonErrorWorker", "--bind", f"127.0.0.1:{port}",
            "--workers", "2", "--timeout", "120"]  # fmt: skip
    return Process("api", argv, env, workdir)


def worker(env: dict, workdir: Path, n: int) -> Process:
    argv = [python(), "-m", "celery", "-A", "config", "worker", "-Q", "celery,bulk", "-c", "2",
            "-n", f"faults{n}@%h", "--without-gossip", "--without-mingle", "--loglevel=INFO"]  # fmt: skip
    return Process(f"worker{n}", argv, env, workdir)


def beat(env: dict, workdir: Path) -> Process:
    argv = [python(), "-m", "celery", "-A", "config", "beat", "--loglevel=INFO",
            "--schedule", str(workdir / "celerybeat-schedule")]  # fmt: skip
    return Process("beat", argv, env, workdir)
