"""The Eloqua tutorial flow over real HTTP, with a real Celery worker on real Redis."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import psycopg
import pytest
import requests

from entities.opportunities.models import Opportunity
from pipeline.services.run import STATISTICS_LOCK
from tests.concurrency import conninfo
from tests.conftest import wait_for
from tests.factories import SiteFactory, TokenFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker_process")]


@pytest.fixture
def http(live_server, currencies):
    site = SiteFactory(name="TutorialCo")
    token = TokenFactory(user=UserFactory(site=site, username="API.User"))
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token.raw}"
    session.base = f"{live_server.url}/API/Bulk/2.0"  # the form /id hands out, upper case and all
    session.site = site
    return session


class Callbacks(BaseHTTPRequestHandler):
    received: list = []
    fail_first = 0

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if Callbacks.fail_first > 0:
            Callbacks.fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        Callbacks.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def callback_server(settings):
    settings.CALLBACK_ALLOW_PRIVATE = True
    Callbacks.received = []
    server = HTTPServer(("127.0.0.1", 0), Callbacks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/done"
    server.shutdown()


def poll(http, uri):
    return wait_for(
        lambda: (s := http.get(http.base + uri).json())["status"] in ("success", "warning", "error") and s,
        timeout=60,
    )


def test_tutorial_flow_json_then_sync_then_poll_with_callback(http, callback_server):
    definition = http.post(
        http.base + "/opportunities/imports",
        json={
            "name": "Opportunity Import",
            "fields": {
                "OpportunityID": "{{Opportunity.Id}}",
                "OpportunityName": "{{Opportunity.Field(Name)}}",
                "AccountName": "{{Opportunity.Field(AccountName)}}",
                "CreatedDate": "{{Opportunity.CreatedAt}}",
                "Amount": "{{Opportunity.Field(Amount)}}",
                "CloseDate": "{{Opportunity.Field(CloseDate)}}",
                "Currency": "{{Opportunity.Field(Currency)}}",
                "ForecastToCloseDate": "{{Opportunity.Field(ForecastToCloseDate)}}",
                "Stage": "{{Opportunity.Field(Stage)}}",
                "Territory": "{{Opportunity.Field(Territory)}}",
            },
            "identifierFieldName": "OpportunityID",
            "isIdentifierFieldCaseSensitive": False,
        },
    )
    assert definition.status_code == 201
    uri = definition.json()["uri"]
    rows = [
        {"OpportunityID": "1", "OpportunityName": "Opportunity 1", "AccountName": "Account1",
         "CreatedDate": "2017-10-05 1:15", "Amount": "1000000", "CloseDate": "", "Currency": "USD",
         "ForecastToCloseDate": "", "Stage": "Prospecting", "Territory": "Canada"},
        {"OpportunityID": "2", "OpportunityName": "Opportunity 2", "AccountName": "Account2",
         "CreatedDate": "2017-10-05 1:15", "Amount": "1000000", "CloseDate": "", "Currency": "USD",
         "ForecastToCloseDate": "", "Stage": "Prospecting", "Territory": "Canada"},
    ]  # fmt: skip
    upload = http.post(f"{http.base}/{uri}/data", json=rows)  # pyeloqua-style doubled slash
    assert upload.status_code == 204 and upload.content == b""
    created = http.post(http.base + "/syncs", json={"syncedInstanceUri": uri, "callbackUrl": callback_server})
    assert created.status_code == 201
    sync = created.json()
    assert sync["status"] == "pending" and set(sync) == {
        "syncedInstanceUri",
        "status",
        "createdAt",
        "createdBy",
        "uri",
        "callbackUrl",
    }
    assert sync["createdBy"] == "API.User"
    final = poll(http, sync["uri"])
    assert final["status"] == "success"
    assert final["syncStartedAt"] <= final["syncEndedAt"]
    assert final["progress"]["processed"] == 2 == final["progress"]["total"]
    assert Opportunity.objects.filter(site=http.site).count() == 2
    logs = http.get(http.base + sync["uri"] + "/logs").json()["items"]
    assert {"statusCode": "ELQ-00001", "count": 2, "message": "Total records processed."}.items() <= next(
        entry for entry in logs if entry["statusCode"] == "ELQ-00001"
    ).items()
    assert http.get(http.base + sync["uri"] + "/rejects").json() == {
        "items": [], "totalResults": 0, "limit": 1000, "offset": 0, "count": 0, "hasMore": False,
    }  # fmt: skip
    got = wait_for(lambda: Callbacks.received, timeout=30)
    assert got[0]["uri"] == sync["uri"] and got[0]["status"] == "success"


def test_csv_upload_with_rejects_ends_in_warning(http):
    uri = http.post(
        http.base + "/opportunities/imports",
        json={
            "name": "CSV",
            "fields": {"Id": "{{Opportunity.Id}}", "Name": "{{Opportunity.Field(Name)}}",
                       "Amount": "{{Opportunity.Field(Amount)}}", "Stage": "{{Opportunity.Field(Stage)}}"},
            "identifierFieldName": "Id",
        },
    ).json()["uri"]  # fmt: skip
    csv_body = (
        "Id,Name,Amount,Stage,Colour\nA1,Alpha,10,Proposal,red\nA2,Beta,lots,Proposal,blue\nA3,Gamma,3,Lost-ish,\n"
    )
    assert (
        http.post(http.base + uri + "/data", data=csv_body.encode(), headers={"Content-Type": "text/csv"}).status_code
        == 204
    )
    sync = http.post(http.base + "/syncs", json={"syncedInstanceUri": uri}).json()
    final = poll(http, sync["uri"])
    assert final["status"] == "warning"
    rejects = http.get(http.base + sync["uri"] + "/rejects").json()["items"]
    assert [(r["recordIndex"], r["statusCode"], r["invalidFields"]) for r in rejects] == [
        (2, "ELQ-00032", ["Amount"]), (3, "ELQ-00039", ["Stage"]),
    ]  # fmt: skip
    assert rejects[0]["fieldValues"] == {"Id": "A2", "Name": "Beta", "Amount": "lots", "Stage": "Proposal"}
    messages = [entry["message"] for entry in http.get(http.base + sync["uri"] + "/logs").json()["items"]]
    assert "Field Colour is not part of import definition, and will be ignored." in messages
    assert f"Sync processed for sync {sync['uri'].split('/')[-1]}, resulting in warning status." in messages


def test_second_sync_while_one_is_pending_is_409_and_other_sites_see_404(http, live_server):
    uri = http.post(
        http.base + "/opportunities/imports",
        json={"name": "x", "fields": {"Id": "{{Opportunity.Id}}", "Name": "{{Opportunity.Field(Name)}}",
              "Amount": "{{Opportunity.Field(Amount)}}", "Stage": "{{Opportunity.Field(Stage)}}"},
              "identifierFieldName": "Id"},
    ).json()["uri"]  # fmt: skip
    http.post(
        http.base + uri + "/data",
        json=[{"Id": str(i), "Name": "n", "Amount": "1", "Stage": "Proposal"} for i in range(3000)],
    )
    # the worker cannot finish the first sync while a test connection holds the lock every chunk
    # takes first (the statistics refresh's): the first sync is still pending or active
    with psycopg.connect(conninfo(), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", [STATISTICS_LOCK])
        first = http.post(http.base + "/syncs", json={"syncedInstanceUri": uri})
        second = http.post(http.base + "/syncs", json={"syncedInstanceUri": uri})
        running = http.get(http.base + first.json()["uri"]).json()["status"]
    assert first.status_code == 201 and running in ("pending", "active")
    assert second.status_code == 409 and second.json()["code"] == "conflict"
    assert second.json()["failures"][0] == {
        "field": "syncedInstanceUri",
        "value": uri,
        "constraint": "A sync of this import is already pending or active.",
    }
    assert poll(http, first.json()["uri"])["status"] == "success"
    stranger = TokenFactory(user=UserFactory(site=SiteFactory()))
    other = requests.get(http.base + first.json()["uri"], headers={"Authorization": f"Bearer {stranger.raw}"})
    assert other.status_code == 404
    unknown = http.post(http.base + "/syncs", json={"syncedInstanceUri": "/opportunities/imports/999999"})
    assert unknown.status_code == 400 and unknown.json()["failures"][0]["field"] == "syncedInstanceUri"


def test_callback_url_must_be_http_and_public_unless_allowed(http, settings):
    uri = http.post(
        http.base + "/opportunities/imports",
        json={"name": "x", "fields": {"Id": "{{Opportunity.Id}}", "Name": "{{Opportunity.Field(Name)}}",
              "Amount": "{{Opportunity.Field(Amount)}}", "Stage": "{{Opportunity.Field(Stage)}}"},
              "identifierFieldName": "Id"},
    ).json()["uri"]  # fmt: skip
    settings.CALLBACK_ALLOW_PRIVATE = False
    for bad in ("ftp://example.com/x", "http://127.0.0.1:9/x", "http://10.1.2.3/x", "not a url"):
        response = http.post(http.base + "/syncs", json={"syncedInstanceUri": uri, "callbackUrl": bad})
        assert response.status_code == 400, bad
        assert response.json()["failures"][0]["field"] == "callbackUrl"


def test_failing_callback_is_retried_and_never_changes_the_outcome(http, callback_server):
    Callbacks.fail_first = 1
    uri = http.post(
        http.base + "/opportunities/imports",
        json={"name": "cb", "fields": {"Id": "{{Opportunity.Id}}", "Name": "{{Opportunity.Field(Name)}}",
              "Amount": "{{Opportunity.Field(Amount)}}", "Stage": "{{Opportunity.Field(Stage)}}"},
              "identifierFieldName": "Id"},
    ).json()["uri"]  # fmt: skip
    http.post(http.base + uri + "/data", json=[{"Id": "1", "Name": "n", "Amount": "x", "Stage": "Proposal"}])
    sync = http.post(http.base + "/syncs", json={"syncedInstanceUri": uri, "callbackUrl": callback_server}).json()
    assert poll(http, sync["uri"])["status"] == "warning"
    got = wait_for(lambda: Callbacks.received, timeout=60)
    assert Callbacks.fail_first == 0  # the first attempt got a 503 and was retried
    assert got[0]["status"] == "warning" and got[0]["uri"] == sync["uri"]
    assert http.get(http.base + sync["uri"]).json()["status"] == "warning"
