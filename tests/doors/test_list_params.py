"""Every list of every door takes only the query parameters it documents: an unknown one, one given
twice, or a value that cannot be parsed is a 400 naming it, in the error format of unknown body
properties, never ignored (an ignored `?account=` filter listed every contact).

The lists are found by walking the URL conf: every GET route is called, and every one answering a
list envelope is checked, so a list added later is checked too (a route with path arguments needs
them in ROUTE_ARGS, or this test fails naming it)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from config.urls import v1_patterns
from doors.batch.api import views as batch_views
from doors.eloqua import syncs as sync_views
from doors.eloqua import views as bulk_views
from doors.eloqua.urls import urlpatterns as bulk_patterns
from doors.rest.contacts.views import ContactListApi
from doors.rest.opportunities import opportunity_views
from entities.opportunities.filtersets import OpportunityFilterSet
from entities.opportunities.models import Owner, Pipeline, Stage, Tag
from pipeline.services.imports import import_definition_create
from tests.doors.batch.helpers import rows_csv, upload
from tests.entities.contacts.factories import AccountFactory, ContactFactory
from tests.factories import ImportDefinitionFactory, OpportunityFactory, UserFactory
from tests.pipeline.helpers import run_sync

pytestmark = pytest.mark.django_db


def _definition(entity: str):
    return lambda w: {"pk": w["definitions"][entity].pk}


ROUTE_ARGS = {
    "stage-detail": lambda w: {"pk": w["stage"].pk},
    "tag-detail": lambda w: {"pk": w["tag"].pk},
    "owner-detail": lambda w: {"pk": w["owner"].pk},
    "pipeline-detail": lambda w: {"pk": w["pipeline"].pk},
    "opportunity-detail": lambda w: {"pk": w["opportunity"].uuid},
    "contact-detail": lambda w: {"id": w["contact"].uuid},
    "contact-opportunities": lambda w: {"id": w["contact"].uuid},
    "account-detail": lambda w: {"id": w["account"].uuid},
    "account-opportunities": lambda w: {"id": w["account"].uuid},
    "opportunity-contacts": lambda w: {"id": w["opportunity"].uuid},
    "batch-upload": lambda w: {"site_id": w["site"].pk},
    "batch-list": lambda w: {"site_id": w["site"].pk},
    "batch-status": lambda w: {"site_id": w["site"].pk, "job_id": w["job"]},
    "batch-error-file": lambda w: {"site_id": w["site"].pk, "job_id": w["job"]},
    "batch-success-file": lambda w: {"site_id": w["site"].pk, "job_id": w["job"]},
    "sync-detail": lambda w: {"pk": w["sync"].pk},
    "sync-cancel": lambda w: {"pk": w["sync"].pk},
    "sync-retry": lambda w: {"pk": w["sync"].pk},
    "sync-logs": lambda w: {"pk": w["sync"].pk},
    "sync-rejects": lambda w: {"pk": w["sync"].pk},
    **{f"{entity}-field": lambda w: {"pk": 100001} for entity in ("opportunity", "contact", "account")},
    **{
        f"{name}{suffix}": _definition(entity)
        for name, entity in (
            ("opportunity", "opportunity"),
            ("contact", "contact"),
            ("account", "account"),
            ("opportunity-link", "opportunity_link"),
        )
        for suffix in ("-import", "-import-data")
    },  # fmt: skip
}
# The lists there are today: the walk must find at least these (so a broken walk cannot pass).
KNOWN_LISTS = {
    "stage-list", "tag-list", "owner-list", "pipeline-list", "opportunity-list", "contact-list",
    "contact-opportunities", "account-list", "account-opportunities", "opportunity-contacts", "batch-list",
    "opportunity-fields", "contact-fields", "account-fields", "opportunity-imports", "contact-imports",
    "account-imports", "opportunity-link-imports", "sync-list", "sync-logs", "sync-rejects",
}  # fmt: skip


# The sorts and `q` terms of the lists that are not DRF generic views (those name theirs in `list_spec`).
SPECS = {
    "opportunity-list": opportunity_views.LIST_SPEC,
    "sync-list": sync_views.SYNC_LIST,
    "sync-logs": sync_views.LOG_LIST,
    "sync-rejects": sync_views.REJECT_LIST,
    "batch-list": batch_views.JOB_LIST,
    **{f"{e}-imports": bulk_views.DEFINITION_LIST for e in ("opportunity", "contact", "account", "opportunity-link")},
}


@pytest.fixture
def world(api):
    site = api.site
    user = UserFactory(site=site)
    definitions = {"opportunity": ImportDefinitionFactory(site=site)}
    definitions["contact"] = import_definition_create(
        site=site, user=user, entity="contact",
        body={"name": "c", "identifierFieldName": "Email", "fields": {"Email": "{{Contact.Field(C_EmailAddress)}}"}},
    )  # fmt: skip
    definitions["account"] = import_definition_create(
        site=site, user=user, entity="account",
        body={"name": "a", "identifierFieldName": "Id", "fields": {"Id": "{{Account.Field(CompanyIDExt)}}"}},
    )  # fmt: skip
    definitions["opportunity_link"] = import_definition_create(
        site=site, user=user, entity="opportunity_link",
        body={"name": "l", "fields": {"OpportunityID": "{{Opportunity.Id}}",
                                      "Email": "{{Opportunity.Contact.Field(C_EmailAddress)}}"}},
    )  # fmt: skip
    row = {"OpportunityID": "W-1", "OpportunityName": "W", "Amount": "1", "Stage": "Proposal"}
    sync = run_sync(definitions["opportunity"], [row, {**row, "OpportunityID": "W-2", "Amount": "lots"}], user=user)
    job = upload(api, rows_csv("2024-01-15T00:00:00Z,GBP,1000.00,Proposal,a@example.com,REF-1"))
    assert job.status_code in (200, 201, 202), job.content
    account = AccountFactory(site=site)
    return {
        "site": site,
        "stage": Stage.objects.filter(site=site).first(),
        "tag": Tag.objects.create(site=site, name="t"),
        "owner": Owner.objects.create(site=site, name="o"),
        "pipeline": Pipeline.objects.create(site=site, external_id="p", label="p"),
        "opportunity": OpportunityFactory(site=site, company=account),
        "account": account,
        "contact": ContactFactory(site=site, account=account),
        "definitions": definitions,
        "sync": sync,
        "job": job.json()["jobId"],
    }


def routes():
    for prefix, patterns in (("bulk", bulk_patterns), ("v1", v1_patterns)):
        for pattern in patterns:
            yield prefix, pattern


def url_of(pattern, world) -> str:
    if not pattern.pattern.converters:
        return reverse(pattern.name)
    if pattern.name not in ROUTE_ARGS:
        pytest.fail(f"route {pattern.name} ({pattern.pattern}) has path arguments: add them to ROUTE_ARGS")
    return reverse(pattern.name, kwargs=ROUTE_ARGS[pattern.name](world))


def is_list(response) -> bool:
    if response.status_code != 200 or "application/json" not in response.get("Content-Type", ""):
        return False
    body = response.json()
    return isinstance(body, dict) and any(isinstance(body.get(k), list) for k in ("items", "results"))


def failure(response, field: str) -> dict:
    assert response.status_code == 400, (field, response.status_code, response.content[:300])
    body = response.json()
    assert body["code"] == "validation_error", body
    found = [f for f in body["failures"] if f["field"] == field]
    assert found, body
    return found[0]


def lists(api, world) -> dict[str, tuple[str, bool]]:
    """name -> (url, is Eloqua door) of every route whose GET answers a list."""
    found = {}
    for door, pattern in routes():
        url = url_of(pattern, world)
        if is_list(api.get(url)):
            found[pattern.name] = (url, door == "bulk")
    return found


def test_every_list_of_every_door_refuses_what_it_does_not_take(api, world):
    # given every list the URL conf serves
    found = lists(api, world)
    assert set(found) >= KNOWN_LISTS, KNOWN_LISTS - set(found)

    for name, (url, eloqua) in found.items():
        # an unknown parameter, beside good ones, is a 400 naming it (as an unknown body property)
        bad = failure(api.get(url, {"limit": 5, "account": "nope"}), "account")
        assert bad == {"field": "account", "value": "nope", "constraint": "Unknown query parameter."}, name
        # several unknown ones are each named
        response = api.get(url, {"colour": "red", "Limit": "5"})
        assert {f["field"] for f in response.json()["failures"]} == {"colour", "Limit"}, name
        # a parameter given twice is ambiguous
        assert failure(api.get(f"{url}?limit=1&limit=2"), "limit")["constraint"] == "Given more than once.", name
        # values that cannot be parsed name their parameter
        for param, value in (("limit", "ten"), ("offset", "-1"), ("totalResults", "maybe")):
            failure(api.get(url, {param: value}), param)
        # what every list documents is taken
        page = api.get(url, {"limit": 1, "offset": 0, "totalResults": "false"})
        assert page.status_code == 200 and "totalResults" not in page.json(), (name, page.content[:300])
        # Eloqua's `links` and `depth` (reference 2.2) on its door only; `depth` one of its values
        if eloqua:
            assert api.get(url, {"links": "self", "depth": "complete"}).status_code == 200, name
            failure(api.get(url, {"depth": "everything"}), "depth")
        else:
            failure(api.get(url, {"links": "self"}), "links")


def test_every_documented_filter_and_sort_of_every_list_is_taken(api, world):
    from django.urls import resolve

    for name, (url, _eloqua) in lists(api, world).items():
        view = resolve(url).func.view_class
        filterset = getattr(view, "filterset_class", None)
        for param in getattr(filterset, "base_filters", {}):
            response = api.get(url, {param: ""})  # empty: taken, and filters nothing
            assert response.status_code == 200, (name, param, response.content[:300])
        spec = getattr(view, "list_spec", None) or SPECS.get(name)
        assert spec is not None or name.endswith("-fields"), f"{name}: which orderBy and q does it take?"
        if spec is not None:
            for field in spec.fields:
                response = api.get(url, {"orderBy": f"{field} DESC"})
                assert response.status_code == 200, (name, field, response.content[:300])
            failure(api.get(url, {"orderBy": "nothing DESC"}), "orderBy")
            failure(api.get(url, {"q": "nothing='x'"}), "q")


def test_an_unknown_filter_is_refused_and_another_sites_id_filters_to_nothing(api, other_api, world):
    # given a contact of an account of this site, and an account of another site
    mine = world["account"]
    theirs = AccountFactory(site=other_api.site)
    ContactFactory(site=other_api.site, account=theirs)
    contacts = "/api/v1/contacts"

    # the request: `account` is not a filter (`accountId` is)
    assert failure(api.get(contacts, {"account": "nope"}), "account")["constraint"] == "Unknown query parameter."
    assert failure(api.get(contacts, {"account": str(theirs.uuid)}), "account")
    # a value the filter cannot parse names it
    failure(api.get(contacts, {"accountId": "nope"}), "accountId")
    # another site's id is a well-formed id that names nothing here: an empty list (not a 400, which
    # would tell the id exists elsewhere), as every site-scoped reference filter does
    page = api.get(contacts, {"accountId": str(theirs.uuid)}).json()
    assert page["items"] == [] and page["totalResults"] == 0
    assert [c["id"] for c in api.get(contacts, {"accountId": str(mine.uuid)}).json()["items"]] == [
        str(world["contact"].uuid)
    ]
    opportunities = "/api/v1/opportunities"
    their_owner = Owner.objects.create(site=other_api.site, name="x")
    assert api.get(opportunities, {"companyId": str(theirs.uuid)}).json()["items"] == []
    assert api.get(opportunities, {"ownerId": their_owner.pk}).json()["items"] == []
    assert len(api.get(opportunities, {"companyId": str(mine.uuid)}).json()["items"]) == 1
    failure(api.get(opportunities, {"company": str(mine.uuid)}), "company")


def test_the_declared_filters_are_the_ones_documented():
    # the filters the OpenAPI document lists are the ones taken (django-filter's own parameters)
    assert "accountId" in ContactListApi.filterset_class.base_filters
    assert "companyId" in OpportunityFilterSet.base_filters


def test_logs_rejects_and_fields_sort_as_eloqua_documents(api, world):
    sync = world["sync"]
    logs = api.get(f"/api/bulk/2.0/syncs/{sync.pk}/logs", {"orderBy": "createdAt DESC"}).json()["items"]
    assert logs[0]["statusCode"] == "ELQ-00101"  # the last written first
    rejects = api.get(f"/api/bulk/2.0/syncs/{sync.pk}/rejects", {"orderBy": "recordIndex DESC"}).json()["items"]
    assert [r["recordIndex"] for r in rejects] == [2]
    fields = api.get("/api/bulk/2.0/opportunities/fields", {"orderBy": "name DESC"}).json()["items"]
    names = [f["name"].lower() for f in fields]
    assert names == sorted(names, reverse=True) and len(names) > 3
    failure(api.get("/api/bulk/2.0/opportunities/fields", {"orderBy": "colour"}), "orderBy")


def test_every_query_parameter_the_openapi_document_lists_for_a_list_is_taken(api, world):
    import re

    from django.urls import resolve
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    for name, (url, _eloqua) in lists(api, world).items():
        route = resolve(url).route
        path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: "{" + {"pk": "id"}.get(m.group(1), m.group(1)) + "}", route)
        documented = [p["name"] for p in schema["paths"][path]["get"].get("parameters", []) if p["in"] == "query"]
        assert {"limit", "offset", "totalResults"} <= set(documented), (name, documented)
        for param in documented:
            response = api.get(url, {param: ""})  # empty: the parameter's default
            assert response.status_code == 200, (name, param, response.content[:300])
