"""Real Eloqua client libraries from PyPI, unchanged but for the login host, against a live server
and a real worker: pyeloqua (Basic auth, discovery through /id) and eloqua-python-sdk (Basic and
OAuth 2.0 password grant)."""

import time

import pytest
import requests
from oauth2_provider.models import Application

from entities.opportunities.models import Opportunity
from tests.factories import SiteFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker_process")]

FIELDS = {
    "OpportunityID": "{{Opportunity.Id}}",
    "OpportunityName": "{{Opportunity.Field(Name)}}",
    "Amount": "{{Opportunity.Field(Amount)}}",
    "Stage": "{{Opportunity.Field(Stage)}}",
    "CloseDate": "{{Opportunity.Field(CloseDate)}}",
}
ROWS = [
    {"OpportunityID": "P-1", "OpportunityName": "One", "Amount": "10", "Stage": "Proposal", "CloseDate": "2025-01-31"},
    {"OpportunityID": "P-2", "OpportunityName": "Two", "Amount": "oops", "Stage": "Proposal", "CloseDate": ""},
]


@pytest.fixture
def account(currencies):
    site = SiteFactory(name="ClientCo")
    UserFactory(site=site, username="API.User", password="s3cret")
    return site


@pytest.fixture
def login_host(live_server, monkeypatch):
    """Send the clients' hard-coded https://login.eloqua.com to our live server instead."""
    real = requests.Session.request

    def rerouted(self, method, url, *args, **kwargs):
        return real(self, method, url.replace("https://login.eloqua.com", live_server.url), *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", rerouted)
    return live_server.url


def test_pyeloqua_logs_in_through_id_and_runs_an_opportunity_import(account, login_host):
    from pyeloqua import Bulk

    bulk = Bulk(company="ClientCo", username="API.User", password="s3cret")
    assert bulk.site_id == account.pk
    assert bulk.bulk_base == f"{login_host}/API/Bulk/2.0/"
    with pytest.raises(ValueError, match="Invalid login credentials"):
        Bulk(company="ClientCo", username="API.User", password="wrong")
    # pyeloqua has no opportunity job builder; the definition is made as its users do, by hand
    created = requests.post(
        bulk.bulk_base + "/opportunities/imports",
        auth=bulk.auth,
        json={"name": "pyeloqua", "fields": FIELDS, "identifierFieldName": "OpportunityID"},
    )
    assert created.status_code == 201
    bulk.job["job_type"] = "imports"
    bulk.job_def = created.json()
    bulk.post_data(ROWS)
    assert bulk.sync(sleeptime=1, timeout=120) == "warning"
    logs = {entry["statusCode"]: entry["count"] for entry in bulk.get_sync_logs()}
    assert logs["ELQ-00001"] == 2 and logs["ELQ-00032"] == 1
    rejects = bulk.get_sync_rejects()
    assert [(r["recordIndex"], r["invalidFields"]) for r in rejects] == [(2, ["Amount"])]
    assert list(Opportunity.objects.filter(site=account).values_list("external_id", flat=True)) == ["P-1"]


def _poll(client, uri):
    for _ in range(240):
        sync = client.check_sync_status(uri)
        if sync["status"] not in ("pending", "active"):
            return sync
        time.sleep(0.5)
    raise AssertionError("sync did not finish")


def test_eloqua_python_sdk_with_basic_auth(account, login_host):
    from eloquasdk.bulk import EloquaBulkClient

    client = EloquaBulkClient("ClientCo\\API.User", "s3cret", bulk_url=f"{login_host}/api/bulk/2.0")
    fields = client.get(f"{login_host}/api/bulk/2.0/opportunities/fields")  # get_fields() knows no opportunities
    assert {f["internalName"]: f["statement"] for f in fields["items"]}["RemoteOpportunityID"] == "{{Opportunity.Id}}"
    definition = client.create_import("sdk import", "opportunities", FIELDS, identifier_field_name="OpportunityID")
    assert definition["autoDeleteDuration"] == "P7D" and definition["isSyncTriggeredOnImport"] is False
    assert client.upload_data(definition["uri"] + "/data", ROWS[:1]) is None  # 204
    sync = client.create_sync(definition["uri"])
    assert sync["status"] == "pending" and "callbackUrl" not in sync
    assert _poll(client, sync["uri"])["status"] == "success"
    assert Opportunity.objects.get(site=account, external_id="P-1").name == "One"


def test_eloqua_python_sdk_with_oauth_password_grant(account, login_host, monkeypatch):
    import eloquasdk.bulk
    from eloquasdk.bulk import EloquaBulkClient

    Application(
        name="sdk", client_id="sdk-client", client_secret="sdk-secret", user=None,
        client_type=Application.CLIENT_CONFIDENTIAL, authorization_grant_type=Application.GRANT_PASSWORD,
    ).save()  # fmt: skip
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the live server speaks plain http
    client = EloquaBulkClient(
        "ClientCo\\API.User", "s3cret", bulk_url=f"{login_host}/api/bulk/2.0",
        client_id="sdk-client", client_secret="sdk-secret",
    )  # fmt: skip
    assert client.token["token_type"].lower() == "bearer" and client.token["refresh_token"]
    assert eloquasdk.bulk.TOKEN_URL.startswith("https://login.eloqua.com")  # unchanged client
    definition = client.create_import("oauth import", "opportunities", FIELDS, identifier_field_name="OpportunityID")
    client.upload_data(definition["uri"] + "/data", ROWS[:1])
    assert _poll(client, client.create_sync(definition["uri"])["uri"])["status"] == "success"
