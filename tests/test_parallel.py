"""The two test processes of `make test` (tests/parallel.py) each have Redis databases of their own, as
the settings they and the servers they start read them."""

import json
import os
import subprocess
import sys

from tests.conftest import ROOT
from tests.parallel import _redis_database

SHOW = """
import json, tests.parallel
from django.conf import settings
print(json.dumps([settings.REDIS_URL, settings.CACHES["default"]["LOCATION"], settings.CELERY_BROKER_URL]))
"""


def settings_of(worker: str, **env: str) -> list[str]:
    environ = {
        k: v for k, v in os.environ.items() if k not in ("PYTEST_XDIST_WORKER", "CACHE_URL", "CELERY_BROKER_URL")
    }
    done = subprocess.run(
        [sys.executable, "-c", SHOW], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_DEBUG": "true",
             "REDIS_URL": "redis://127.0.0.1:6399/0", "PYTEST_XDIST_WORKER": worker, **env},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_each_worker_has_its_own_redis_database_for_broker_cache_and_servers():
    gw0, gw1 = settings_of("gw0"), settings_of("gw1")
    assert gw0 == ["redis://127.0.0.1:6399/6"] * 3
    assert gw1 == ["redis://127.0.0.1:6399/7"] * 3
    # The databases tests use beside theirs (test_readme's 4 and 5, test_wire's 15) are no worker's.
    assert settings_of("gw8", CACHE_URL="redis://127.0.0.1:6399/3")[1:] == ["redis://127.0.0.1:6399/14"] * 2


def test_a_redis_url_gets_the_database_asked_for_whatever_it_named():
    for url in ("redis://h:1", "redis://h:1/", "redis://h:1/0", "redis://h:1/12"):
        assert _redis_database(url, 7) == "redis://h:1/7"
    assert _redis_database("rediss://u:p@h:1/2?ssl_cert_reqs=none", 6) == "rediss://u:p@h:1/6?ssl_cert_reqs=none"
