"""Shared fixtures: real PostgreSQL (pytest-django's test database), real Redis, real workers."""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests.factories import SiteFactory, TokenFactory, UserFactory

# CI (.ci/run) sets CI_NO_SKIPS=1: every skip is then a failure, listed at the end (these hooks).
from tests.noskips import pytest_make_collect_report, pytest_runtest_makereport, pytest_terminal_summary  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent


def clear_cache() -> None:
    """Delete the cache's own keys (auth-failure counters). Never `cache.clear()`: the cache shares
    the broker's Redis database, and a FLUSHDB would drop queued tasks too."""
    from django.core.cache import cache

    client = cache._cache.get_client(write=True)
    for key in client.scan_iter(match=cache.make_key("*")):
        client.delete(key)


@pytest.fixture(autouse=True)
def _clean_cache():
    """Auth-failure counters live in Redis, checked Basic credentials in memory; start every test
    from zero."""
    from kernel.auth import BASIC_CACHE

    clear_cache()
    BASIC_CACHE.clear()


@pytest.fixture
def currencies(db):
    """ISO 4217 codes (a migration loads them; transactional tests truncate them away)."""
    import pycountry

    from kernel.models import Currency

    if not Currency.objects.exists():
        Currency.objects.bulk_create([Currency(code=c.alpha_3, name=c.name[:100]) for c in pycountry.currencies])


@pytest.fixture
def site(currencies):
    return SiteFactory()


@pytest.fixture
def user(site):
    return UserFactory(site=site)


@pytest.fixture
def token(user):
    return TokenFactory(user=user)


def bearer(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def basic(login: str, password: str) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()}


@pytest.fixture
def api(token):
    """An APIClient authenticated as `user` of `site` with an API token."""
    client = APIClient()
    client.credentials(**bearer(token.raw))
    client.user = token.user
    client.site = token.user.site
    return client


@pytest.fixture
def other_api(currencies):
    """A client of a second site, to prove that nothing of the first one is visible."""
    other = TokenFactory(user=UserFactory(site=SiteFactory()))
    client = APIClient()
    client.credentials(**bearer(other.raw))
    client.site = other.user.site
    return client


@pytest.fixture
def password_checks(monkeypatch):
    """Counts full password checks (PBKDF2 in production) against a found user's stored hash."""
    from kernel.models import User

    calls = []
    check = User.check_password

    def counted(self, raw):
        calls.append(self.pk)
        return check(self, raw)

    monkeypatch.setattr(User, "check_password", counted)
    return calls


@pytest.fixture
def hash_runs(monkeypatch):
    """Counts every password hashing (PBKDF2 in production): checks of a found user's password and
    the equal-cost run made for a user name that does not exist."""
    from django.contrib.auth.hashers import MD5PasswordHasher

    runs = []
    encode = MD5PasswordHasher.encode

    def counted(self, password, salt):
        runs.append(1)
        return encode(self, password, salt)

    monkeypatch.setattr(MD5PasswordHasher, "encode", counted)
    return runs


def database_url() -> str:
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class WorkerProcess:
    """A real `celery worker` process on the test database and the test Redis, consuming every
    queue tasks go to unless `queues` names some."""

    def __init__(self, extra_env: dict | None = None, concurrency: int = 1, queues: tuple[str, ...] | None = None):
        self.name = f"test-{uuid.uuid4().hex[:8]}@localhost"
        self.queues = queues or settings.TASK_QUEUES
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "CALLBACK_ALLOW_PRIVATE": "true",
            "DJANGO_DEBUG": "true",
            **(extra_env or {}),
        }
        (ROOT / ".run").mkdir(exist_ok=True)  # make test made it; a run with DATABASE_URL set may not have
        self.log = open(ROOT / ".run" / f"worker-{self.name.split('@')[0]}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", ",".join(self.queues), "-c", str(concurrency),
             "-n", self.name, "--without-gossip", "--without-mingle", "--loglevel=INFO"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        from config.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}; see {self.log.name}")
            if app.control.ping(destination=[self.name], timeout=0.5):
                return
        raise RuntimeError("worker did not become ready")

    def pids(self) -> list[int]:
        """The main process and its pool children (the child runs the task)."""
        out = subprocess.run(["pgrep", "-g", str(self.proc.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool): a crash, not a shutdown."""
        import signal

        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture(scope="module")
def celery_worker_process(django_db_setup, django_db_blocker):
    """A worker for the tests of one module (modules that kill workers start their own)."""
    (ROOT / ".run").mkdir(exist_ok=True)
    worker = WorkerProcess()
    yield worker
    worker.stop()


def wait_for(predicate, timeout: float = 60, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")
