"""A site with one of everything, made through the real API, whose ids the schema fuzzing uses.

Everything is created over HTTP as a client would (definitions from the schema's own request
examples, rows staged and synced by the real worker, a batch job uploaded and run), so the run
starts from real objects: a sync that ended with rejects and logs, staged data, opportunities,
contacts, accounts, stages, tags, owners, pipelines and a finished batch job. Operations that delete
get objects of their own (`victims`), so the others keep finding theirs.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

import requests

from tests.conftest import wait_for
from tests.factories import SiteFactory, TokenFactory, UserFactory

BULK = "/api/bulk/2.0"
CAPILLARY = "/coupon/api/v1/upload/file/"
WORKSPACE = "/api/workspace"
ENTITY_PATHS = {
    "opportunity": "opportunities",
    "contact": "contacts",
    "account": "accounts",
    "opportunity_contact_linkage": "opportunities/contacts",
}
FIELD_IDS = {"opportunities": 1, "contacts": 100001, "accounts": 200001}
BATCH_CSV = (
    "OpportunityDateTime,CurrencyCode,OpportunityValue,PipelineStage,EmailAddress,Reference\r\n"
    "2025-05-01T10:00:00Z,EUR,1200,Prospecting,ann@acme.example,FUZZ-B1\r\n"
    "2025-05-01T11:00:00Z,USD,-5.25,Qualification,bob@acme.example,FUZZ-B2\r\n"
)


@dataclass
class Site:
    """The seeded site: how to call the server as its user, and the ids of its objects."""

    base: str
    token: str
    site_id: int
    login: str
    password: str
    client_id: str
    client_secret: str
    definitions: dict[str, int] = field(default_factory=dict)  # entity path -> definition id
    ids: dict[str, int | str] = field(default_factory=dict)  # REST resource -> id
    # What DELETE operations may delete: definitions (by entity path) and REST records (by resource).
    victim_definitions: dict[str, int] = field(default_factory=dict)
    victims: dict[str, int | str] = field(default_factory=dict)
    sync_id: int = 0  # ended with rejects
    pending_sync_id: int = 0  # for the cancel: pending (no worker takes it)
    errored_sync_id: int = 0  # for the retry: cancelled, so `error` with SRV-00101 rejects
    job_id: str = ""
    capillary_job_id: int = 0  # a Capillary upload to the opportunity definition, run to its end
    # Ruddr's door (/api/workspace): resource path -> a uuid of the site's (and one to delete).
    workspace: dict[str, str] = field(default_factory=dict)
    workspace_victims: dict[str, str] = field(default_factory=dict)

    def seeded(self) -> set:
        """Every seeded id, as a path would carry it (ints stay ints, uuids are strings)."""
        values = [*self.definitions.values(), *self.victim_definitions.values(), *self.ids.values()]
        values += [*self.victims.values(), self.sync_id, self.pending_sync_id, self.errored_sync_id]
        values += [*self.workspace.values(), *self.workspace_victims.values()]
        return {str(v) for v in values}

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    def path_parameters(self, path: str, method: str) -> dict:
        """Real ids for an operation's path parameters (the victims' for a DELETE of a whole object)."""
        deleting = method.upper() == "DELETE"
        if path.startswith(BULK):
            rest = path[len(BULK) + 1 :]
            if rest.startswith("syncs/"):
                target = {"cancel": self.pending_sync_id, "retry": self.errored_sync_id}.get(rest.rsplit("/", 1)[1])
                return {"id": target or self.sync_id}
            match = re.match(r"^(opportunities/contacts|opportunities|contacts|accounts)/(fields|imports)/", rest)
            if match is None:
                return {}
            entity, kind = match.groups()
            if kind == "fields":
                return {"id": FIELD_IDS[entity]}
            whole = rest.endswith("{id}")
            return {"id": (self.victim_definitions if deleting and whole else self.definitions)[entity]}
        if path.startswith(CAPILLARY):
            return {"series_id": self.definitions["opportunities"], "job_id": self.capillary_job_id}
        if path.startswith(WORKSPACE + "/") and path.endswith("/{id}"):
            resource = path[len(WORKSPACE) + 1 : -len("/{id}")]
            return {"id": (self.workspace_victims if deleting else self.workspace)[resource]}
        match = re.match(r"^(?:/api)?/v1/(\{site_id\}/)?(\w+)(/\{id\})?", path)
        if match is None:
            return {}
        if match.group(1):
            return {"site_id": self.site_id, "job_id": self.job_id}
        resource, has_id = match.group(2), match.group(3)
        if not has_id:
            return {}
        whole = path.endswith("{id}")
        return {"id": (self.victims if deleting and whole else self.ids)[resource]}


def _ok(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, (response.request.method, response.url, response.status_code, response.text)
    return response.json() if response.content else {}


def _id(uri: str) -> int:
    return int(uri.rsplit("/", 1)[1])


def _seed_workspace(out: Site, site) -> None:
    """Ruddr's door reads the same records by uuid; the kinds it alone shows (types, lead sources,
    practices, clients, projects) have no write door and are made here directly."""
    from entities.contacts.models import Account
    from entities.opportunities.models import (
        Client,
        LeadSource,
        Opportunity,
        OpportunityType,
        Owner,
        Practice,
        Project,
        Stage,
        Tag,
    )

    company = Account.objects.get(uuid=out.ids["accounts"])
    client = Client.objects.create(site=site, key="acme-0", name="Acme 0", company=company)
    records = {
        "opportunities": Opportunity.objects.get(uuid=out.ids["opportunities"]),
        "opportunity-stages": Stage.objects.get(pk=out.ids["stages"]),
        "tags": Tag.objects.get(pk=out.ids["tags"]),
        "members": Owner.objects.get(pk=out.ids["owners"]),
        "companies": company,
        "opportunity-types": OpportunityType.objects.create(site=site, name="New Business"),
        "opportunity-lead-sources": LeadSource.objects.create(site=site, name="Referral"),
        "practices": Practice.objects.create(site=site, name="Consulting"),
        "projects": Project.objects.create(site=site, name="Mobile App", client=client),
    }
    out.workspace = {path: str(record.uuid) for path, record in records.items()}
    victim = Opportunity.objects.create(
        site=site, external_id="FUZZ-RUDDR", name="To delete", stage=records["opportunity-stages"]
    )
    out.workspace_victims = {"opportunities": str(victim.uuid)}


def seed_site(base: str, schema: dict, worker) -> Site:
    """Make the site through the API; `schema` (the served OpenAPI document) gives the request examples.

    `worker` (tests.conftest.WorkerProcess) runs the seeded sync and batch job, then is stopped, so
    that the syncs made afterwards stay pending: one to cancel, one cancelled to retry. (Their queued
    messages are no-ops for a later worker: a sync that no longer exists is skipped.)"""
    from oauth2_provider.models import Application

    site = SiteFactory(name=f"Fuzz{secrets.randbelow(10**6)}")
    user = UserFactory(site=site, username="api")
    token = TokenFactory(user=user)
    secret = secrets.token_urlsafe(16)
    Application(
        name="fuzz",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_PASSWORD,
        client_id=f"fuzz-{site.pk}",
        client_secret=secret,
        user=user,
    ).save()
    out = Site(base, token.raw, site.pk, f"{site.name}\\api", "secret-pass", f"fuzz-{site.pk}", secret)
    http = requests.Session()
    http.headers.update(out.headers)
    v1 = f"{base}/api/v1"

    # REST objects: two of each (one to keep, one for DELETE).
    for i, key in enumerate(("ids", "victims")):
        bag = getattr(out, key)
        bag["accounts"] = _ok(http.post(f"{v1}/accounts", json={"name": f"Acme {i}", "domain": f"acme{i}.example",
                                                                  "externalId": f"A-{i}"}), 201)["id"]  # fmt: skip
        bag["contacts"] = _ok(
            http.post(f"{v1}/contacts", json={"email": f"ann{i}@acme.example", "accountId": out.ids["accounts"]}), 201
        )["id"]
        bag["tags"] = _ok(http.post(f"{v1}/tags", json={"name": f"tag {i}"}), 201)["id"]
        bag["owners"] = _ok(http.post(f"{v1}/owners", json={"name": f"Owner {i}", "externalId": f"O-{i}"}), 201)["id"]
        bag["pipelines"] = _ok(http.post(f"{v1}/pipelines", json={"externalId": f"P-{i}", "label": f"Pipe {i}"}), 201)[
            "id"
        ]
        bag["stages"] = _ok(http.post(f"{v1}/stages", json={"name": f"Fuzz stage {i}", "probability": 0.5}), 201)["id"]
        bag["opportunities"] = _ok(
            http.post(
                f"{v1}/opportunities",
                json={"name": f"Deal {i}", "externalId": f"FUZZ-{i}", "companyId": out.ids["accounts"],
                      "amount": 1000, "currency": "EUR", "opportunityStageId": out.ids["stages"],
                      "tagIds": [out.ids["tags"]], "ownerId": out.ids["owners"]},
            ),
            201,
        )["id"]  # fmt: skip

    _seed_workspace(out, site)

    # Bulk definitions, from the schema's own examples (which must be accepted as they are).
    for entity in ENTITY_PATHS.values():
        operation = schema["paths"][f"{BULK}/{entity}/imports"]["post"]
        examples = operation["requestBody"]["content"]["application/json"]["examples"]
        body = next(iter(examples.values()))["value"]
        for key, suffix in (("definitions", ""), ("victim_definitions", " (to delete)")):
            created = _ok(
                http.post(f"{base}{BULK}/{entity}/imports", json={**body, "name": body["name"] + suffix}), 201
            )
            getattr(out, key)[entity] = _id(created["uri"])

    # A sync that ends with rejects (an unknown stage), then rows staged for the next one.
    opportunities = f"{base}{BULK}/opportunities/imports/{out.definitions['opportunities']}"
    rows = [
        {"OpportunityID": "B-1", "OpportunityName": "Bulk one", "Stage": "Prospecting", "Amount": "10",
         "CloseDate": "2025-06-30"},
        {"OpportunityID": "B-2", "OpportunityName": "Bulk two", "Stage": "No such stage", "Amount": "20",
         "CloseDate": ""},
    ]  # fmt: skip
    _ok(http.post(f"{opportunities}/data", json=rows), 204)
    sync = _ok(http.post(f"{base}{BULK}/syncs", json={"syncedInstanceUri": f"/opportunities/imports/"
                                                                            f"{out.definitions['opportunities']}"}), 201)  # fmt: skip
    out.sync_id = _id(sync["uri"])
    ended = wait_for(
        lambda: (
            (s := http.get(f"{base}{BULK}/syncs/{out.sync_id}").json())["status"] in ("success", "warning", "error")
            and s
        ),
        timeout=60,
    )
    assert ended["status"] == "warning", ended
    _ok(http.post(f"{opportunities}/data", data="OpportunityID,Amount\nB-3,30\n", headers={"Content-Type": "text/csv"}),
        204)  # fmt: skip

    # A batch job, run to its end.
    job = _ok(
        http.post(f"{v1}/{site.pk}/opportunity/upload/batch", files={"file": ("deals.csv", BATCH_CSV, "text/csv")}),
        202,
    )
    out.job_id = job["jobId"]
    wait_for(
        lambda: (
            http.get(f"{v1}/{site.pk}/batch/{out.job_id}/status").json()["status"]
            in ("complete", "partialcomplete", "failed")
        ),
        timeout=60,
    )

    # A Capillary upload to the opportunity definition, run to its end (its customers linked).
    series = out.definitions["opportunities"]
    capillary = _ok(
        http.post(
            f"{base}{CAPILLARY}{series}",
            files={"file": ("coupons.csv", "OpportunityID,OpportunityName,Stage,Amount,Email\r\n"
                                           "CAP-1,Cap one,Prospecting,10,ann0@acme.example\r\n", "text/csv")},
            data={"customerIdentifier": "EMAIL", "customerIdentifierColumn": "Email"},
        ),
        200,
    )  # fmt: skip
    out.capillary_job_id = capillary["result"]["uploadJobStatuses"][0]["jobId"]
    wait_for(
        lambda: (
            http.get(f"{base}{CAPILLARY}{series}").json()["result"]["uploadJobStatuses"][0]["uploadStatus"]
            in ("COMPLETED", "PARTIALLY_COMPLETED", "FAILED")
        ),
        timeout=60,
    )

    # Syncs no worker takes: one pending (to cancel), one cancelled (an error to retry).
    worker.stop()
    for name in ("pending_sync_id", "errored_sync_id"):
        created = _ok(http.post(f"{base}{BULK}/contacts/imports", json={
            "name": f"Contacts for {name}", "identifierFieldName": "Email",
            "fields": {"Email": "{{Contact.Field(C_EmailAddress)}}"}}), 201)  # fmt: skip
        _ok(http.post(f"{base}{BULK}{created['uri']}/data", json=[{"Email": "x@acme.example"}]), 204)
        sync = _ok(http.post(f"{base}{BULK}/syncs", json={"syncedInstanceUri": created["uri"]}), 201)
        setattr(out, name, _id(sync["uri"]))
    cancelled = _ok(http.post(f"{base}{BULK}/syncs/{out.errored_sync_id}/cancel"), 200)
    assert cancelled["status"] == "error" and cancelled["progress"]["rejected"] == 1, cancelled
    return out
