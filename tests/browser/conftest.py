"""Browser tests: a real gunicorn serving the app (WhiteNoise static files, DEBUG off), a real
Celery worker, and Debian's Chromium driven by Playwright for Python. No browser is downloaded:
Playwright launches /usr/bin/chromium (the Makefile installs the `chromium` package when it is
missing and apt-get is usable). Without it these tests fail, unless ALLOW_NO_BROWSER=1 lets them
skip (loudly)."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import ROOT, WorkerProcess, database_url

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Small chunks and one lane, so that a sync of a few tens of thousands of rows runs long enough
# for the page to show its progress moving (and for a cancel to find it running).
SERVER_ENV = {"BULK_SYNC_CHUNK_ROWS": "1000", "BULK_SYNC_LANES": "1", "BULK_SYNC_FIRST_RANGE_ROWS": "1000"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GunicornServer:
    """`gunicorn config.wsgi` on a free loopback port, on the test database, as `make run` starts it."""

    def __init__(self, extra_env: dict | None = None):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "LOG_JSON": "false",
            **(extra_env or {}),
        }
        (ROOT / ".run").mkdir(exist_ok=True)
        self.log = open(ROOT / ".run" / f"gunicorn-{self.port}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
             "--workers", "2", "--timeout", "120"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}; see {self.log.name}")
            try:
                urllib.request.urlopen(self.url + "/admin/login/", timeout=1)
                return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(timeout=30)
        self.log.close()


@pytest.fixture(scope="module")
def live_server_url(django_db_setup, django_db_blocker):
    server = GunicornServer(SERVER_ENV)
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def browser_worker(django_db_setup, django_db_blocker):
    worker = WorkerProcess(extra_env=SERVER_ENV)
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def chromium():
    """A Chromium context (fresh profile) driven by Playwright; the ORM may run beside it."""
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is missing: `apt-get install chromium` (make test does it when it can)"
        if os.environ.get("ALLOW_NO_BROWSER") != "1":
            pytest.fail(f"{reason}; set ALLOW_NO_BROWSER=1 to skip the browser tests instead", pytrace=False)
        print(f"\nSKIPPED LOUDLY: {reason} (ALLOW_NO_BROWSER=1)", file=sys.stderr)
        pytest.skip(f"{reason} (ALLOW_NO_BROWSER=1)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread; the tests' own ORM calls are
    # synchronous and run between browser steps, never inside the loop.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_FLAGS,
                accept_downloads=True,
                viewport={"width": 1400, "height": 1000},
            )
            context.set_default_timeout(30_000)
            yield context
            context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous
