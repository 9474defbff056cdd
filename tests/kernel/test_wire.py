"""Eloqua wire rules of reference section 0 and the shared envelope/error shapes."""

import subprocess
import sys
import time

import pytest
import requests
from rest_framework.test import APIClient

from tests.conftest import ROOT
from tests.factories import ImportDefinitionFactory, SyncFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    [
        "/api/bulk/2.0/opportunities/fields",
        "/API/Bulk/2.0/opportunities/fields",
        "/api/Bulk/2.0/Opportunities/Fields",
        "/API/BULK/2.0//opportunities/fields",
        "/api/bulk/2.0/opportunities/fields/",
        "/api/bulk/2.0//opportunities//fields",
    ],
)
def test_bulk_prefix_any_case_doubled_and_trailing_slashes(api, path):
    response = api.get(path, HTTP_ACCEPT="*/*")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert "X-Request-Id" in response


def test_envelope_defaults_and_exact_has_more(api):
    body = api.get("/api/bulk/2.0/opportunities/fields").json()
    assert list(body) == ["items", "totalResults", "limit", "offset", "count", "hasMore"]
    assert body["limit"] == 1000 and body["offset"] == 0 and body["hasMore"] is False
    assert body["count"] == len(body["items"]) == body["totalResults"]
    total = body["totalResults"]
    page = api.get(f"/api/bulk/2.0/opportunities/fields?limit=5&offset={total - 6}").json()
    assert page["count"] == 5 and page["hasMore"] is True
    last = api.get(f"/api/bulk/2.0/opportunities/fields?limit=5&offset={total - 5}").json()
    assert last["count"] == 5 and last["hasMore"] is False
    beyond = api.get("/api/bulk/2.0/opportunities/fields?offset=5000").json()
    assert beyond["items"] == [] and beyond["count"] == 0 and beyond["hasMore"] is False


def test_total_results_false_omits_total(api):
    for i in range(3):
        ImportDefinitionFactory(site=api.site, name=f"def {i}")
    body = api.get("/api/bulk/2.0/opportunities/imports?totalResults=false&limit=2").json()
    assert "totalResults" not in body
    assert body["count"] == 2 and body["hasMore"] is True


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=x", "offset=-1"])
def test_bad_paging_is_400_with_failures(api, query):
    response = api.get(f"/api/bulk/2.0/opportunities/imports?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["failures"][0]["field"] == query.split("=")[0]
    assert body["failures"][0]["value"] == query.split("=")[1]


def test_q_filter_with_quotes_and_wildcards_and_order_by(api):
    for name in ("Alpha Import", "Beta Import", "Gamma"):
        ImportDefinitionFactory(site=api.site, name=name)

    def names(q):
        return [
            d["name"]
            for d in api.get("/api/bulk/2.0/opportunities/imports", {"q": q, "orderBy": "name DESC"}).json()["items"]
        ]

    assert names('"name=*Import"') == ["Beta Import", "Alpha Import"]
    assert names("name='gamma'") == ["Gamma"]
    assert names("name=Alpha*Import") == ["Alpha Import"]
    assert api.get("/api/bulk/2.0/opportunities/imports", {"q": "bogus=1"}).status_code == 400


def test_unknown_route_and_method_are_json(api):
    response = api.get("/api/bulk/2.0/nothing/here")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "Not found."}
    response = api.patch("/api/bulk/2.0/opportunities/fields")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert APIClient().get("/no/such/page").json()["code"] == "not_found"


def test_http_method_override_header(api):
    definition = ImportDefinitionFactory(site=api.site)
    response = api.post(f"/api/bulk/2.0/opportunities/imports/{definition.pk}", HTTP_X_HTTP_METHOD_OVERRIDE="DELETE")
    assert response.status_code == 204


def test_status_code_override_header(api):
    response = api.get("/api/bulk/2.0/opportunities/imports/999999", HTTP_X_HTTP_STATUS_CODE_OVERRIDE="200")
    assert response.status_code == 200
    assert response["X-HTTP-Original-Status-Code"] == "404"


def test_openapi_schema_and_docs(api):
    schema = APIClient().get("/api/schema", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    assert APIClient().get("/api/docs/").status_code == 200


def test_health_ok(db):
    response = APIClient().get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok", "cache": "ok"}}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(env: dict):
    """A real gunicorn on `env`; yields its base URL once it answers."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/health", timeout=10)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _env(**changes) -> dict:
    import os

    from django.conf import settings

    from tests.conftest import database_url

    env = {**os.environ, "DATABASE_URL": database_url(), "REDIS_URL": settings.REDIS_URL, "DJANGO_DEBUG": "true"}
    env.pop("CACHE_URL", None)
    env.update(changes)
    return env


@pytest.mark.parametrize("broken", ["database", "broker", "cache"])
def test_health_503_names_what_is_down(broken):
    """A real server process whose database (or broker, or cache) is not running answers 503 naming it."""
    dead = f"127.0.0.1:{_free_port()}"
    env = {
        "database": _env(DATABASE_URL=f"postgres://postgres@{dead}/nothing"),
        "broker": _env(REDIS_URL=f"redis://{dead}/0", CACHE_URL=_env()["REDIS_URL"]),
        "cache": _env(CACHE_URL=f"redis://{dead}/0"),
    }[broken]
    for base in _serve(env):
        response = requests.get(f"{base}/health", timeout=10)
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unavailable"
        assert {k for k, v in body["checks"].items() if v != "ok"} == {broken}
        assert body["checks"][broken].startswith("unavailable")


@pytest.mark.django_db(transaction=True)
def test_a_cache_outage_degrades_throttling_and_any_redis_database_number_works(token):
    """Requests go on without the cache (failures are not counted, and logged); REDIS_URL may name
    any database (the cache no longer takes `db + 1`, which for 15 was out of range)."""
    dead = f"127.0.0.1:{_free_port()}"
    redis_url = _env()["REDIS_URL"].rsplit("/", 1)[0] + "/15"
    for env in (_env(CACHE_URL=f"redis://{dead}/0"), _env(REDIS_URL=redis_url)):
        for base in _serve(env):
            ok = requests.get(
                f"{base}/api/bulk/2.0/syncs", headers={"Authorization": f"Bearer {token.raw}"}, timeout=10
            )
            assert ok.status_code == 200, ok.text
            bad = requests.get(f"{base}/api/bulk/2.0/syncs", headers={"Authorization": "Bearer nope"}, timeout=10)
            assert bad.status_code == 401 and bad.json()["code"] == "authentication_failed"


def test_a_large_response_is_freed_before_the_next_request(api):
    """DRF keeps a response in reference cycles with its request and view; with the collector's
    full passes rare in the API (gc.freeze), a page of rejects stayed in memory. The process's next
    request frees it first (kernel.middleware.CollectAfterLargeResponseMiddleware)."""
    import gc
    import weakref

    from pipeline.models import Reject, SyncStatus

    # given: a sync with 1,000 rejects, each row as uploaded
    sync = SyncFactory(site=api.site, status=SyncStatus.WARNING)
    Reject.objects.bulk_create(
        Reject(sync=sync, record_index=i, field_values={"Id": f"OPP-{i}", "Name": "x" * 300}, invalid_fields=["Name"],
               status_code="ELQ-00032", message="Malformed records.")
        for i in range(1, 1001)
    )  # fmt: skip
    gc.collect()
    gc.disable()  # no automatic collection can do the middleware's work
    try:
        # when: the page is fetched, dropped, and the process serves another request
        response = api.get(f"/api/bulk/2.0/syncs/{sync.pk}/rejects?limit=1000")
        assert response.status_code == 200 and len(response.content) > 256 * 1024
        page = weakref.ref(response)
        del response
        assert page() is not None  # still held by the request's reference cycles
        api.get("/api/bulk/2.0/opportunities/fields")
        # then
        assert page() is None
    finally:
        gc.enable()
