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


class FakeWorker:
    """What xdist's scheduler calls on a worker: the tests it is sent, by index of the collection."""

    def __init__(self, name: str):
        self.gateway = type("Gateway", (), {"id": name})()
        self.shutting_down, self.sent = False, []

    def send_runtest_some(self, indices):
        self.sent += indices

    def shutdown(self):
        self.shutting_down = True


def test_a_module_and_the_modules_sharing_make_runs_env_each_go_whole_to_one_worker():
    from tests.parallel import pytest_xdist_make_scheduler

    config = type("Config", (), {"getvalue": lambda self, name: {"dist": "loadfile", "tx": ["2*popen"]}[name]})()
    config.option = type("Option", (), {"loadscopereorder": False})()  # pytest.ini's --no-loadscope-reorder
    scheduler = pytest_xdist_make_scheduler(config, None)
    collection = [
        f"tests/{module}::test_{i}"
        for module in ("ops/test_make_run.py", "a/test_x.py", "a/test_y.py", "ops/test_runenv.py", "a/test_z.py")
        for i in range(3)
    ]
    workers = [FakeWorker("gw0"), FakeWorker("gw1")]
    for worker in workers:
        scheduler.add_node(worker)
        scheduler.add_node_collection(worker, collection)
    scheduler.schedule()
    done = {worker.gateway.id: 0 for worker in workers}
    while any(done[worker.gateway.id] < len(worker.sent) for worker in workers):  # each runs what it was sent
        for worker in workers:
            for index in worker.sent[done[worker.gateway.id] :]:
                done[worker.gateway.id] += 1
                scheduler.mark_test_complete(worker, index, 0.1)
    ran = [{collection[i].split("::")[0] for i in worker.sent} for worker in workers]
    assert sorted(len(worker.sent) for worker in workers) != [0, 15]  # both work
    assert sum(len(worker.sent) for worker in workers) == 15  # each test once
    run_env = {"tests/ops/test_make_run.py", "tests/ops/test_runenv.py"}
    assert any(run_env <= modules for modules in ran) and not all(run_env & modules for modules in ran)
    for module in ("tests/a/test_x.py", "tests/a/test_y.py", "tests/a/test_z.py"):  # whole, on one worker
        assert sum(module in modules for modules in ran) == 1
