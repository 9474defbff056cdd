"""One convention for every /api/v1 resource (issue 16 item 5, issue 14's REST rules): the paging
envelope and parameters on every list, camelCase, numbers as numbers, unknown and read-only
properties a 400 naming them, JSON bodies only (415), HEAD wherever GET works, list filters that
check their values."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from doors.batch.models import BatchJob
from entities.opportunities.models import Owner, Pipeline, Stage, Tag
from tests.doors.batch.helpers import rows_csv, upload
from tests.entities.contacts.factories import AccountFactory, ContactFactory
from tests.factories import ImportDefinitionFactory, OpportunityContactFactory, OpportunityFactory
from tests.pipeline.helpers import run_sync

pytestmark = pytest.mark.django_db
V1 = "/api/v1"
ENVELOPE = {"items", "totalResults", "limit", "offset", "count", "hasMore"}
CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")


@pytest.fixture
def world(api):
    """Two of everything, linked, so every list and detail route has rows."""
    site = api.site
    account = AccountFactory(site=site, name="Acme")
    AccountFactory(site=site, name="Beta")
    contacts = [ContactFactory(site=site, account=account) for _ in range(2)]
    tags = [Tag.objects.create(site=site, name=n) for n in ("Hot", "Cold")]
    owners = [Owner.objects.create(site=site, name=n, email=f"{n}@example.com") for n in ("Ann", "Bob")]
    pipelines = [Pipeline.objects.create(site=site, external_id=n, label=n) for n in ("P1", "P2")]
    opps = [OpportunityFactory(site=site, company=account, amount=250, owner=owners[0]) for _ in range(2)]
    opps[0].tags.set(tags)
    for opp in opps:
        for contact in contacts:
            OpportunityContactFactory(site=site, opportunity=opp, contact=contact)
    job = upload(api, rows_csv("2024-05-01T10:00:00Z,GBP,10,Proposal,a@example.com,R-1")).json()["jobId"]
    upload(api, rows_csv("2024-05-01T10:00:00Z,GBP,10,Proposal,b@example.com,R-2"))
    return {
        "account": account, "contact": contacts[0], "opportunity": opps[0], "tag": tags[0], "owner": owners[0],
        "pipeline": pipelines[0], "stage": Stage.objects.for_site(site).first(), "job": job,
    }  # fmt: skip


def lists(world, site_id):
    """Every /api/v1 list, with an orderBy field it sorts on."""
    return {
        f"{V1}/opportunities": "name",
        f"{V1}/stages": "name",
        f"{V1}/tags": "name",
        f"{V1}/owners": "name",
        f"{V1}/pipelines": "label",
        f"{V1}/contacts": "email",
        f"{V1}/accounts": "name",
        f"{V1}/contacts/{world['contact'].uuid}/opportunities": "name",
        f"{V1}/accounts/{world['account'].uuid}/opportunities": "name",
        f"{V1}/opportunities/{world['opportunity'].uuid}/contacts": "email",
        f"{V1}/{site_id}/batch": "createdOn",
    }


def details(world, site_id):
    return [
        f"{V1}/opportunities/{world['opportunity'].uuid}",
        f"{V1}/stages/{world['stage'].pk}",
        f"{V1}/tags/{world['tag'].pk}",
        f"{V1}/owners/{world['owner'].pk}",
        f"{V1}/pipelines/{world['pipeline'].pk}",
        f"{V1}/contacts/{world['contact'].uuid}",
        f"{V1}/accounts/{world['account'].uuid}",
        f"{V1}/{site_id}/batch/{world['job']}/status",
    ]


def _keys(value, path="") -> list[str]:
    """Every object key in a JSON document, with where it is (free-form maps skipped)."""
    out = []
    if isinstance(value, dict):
        for key, item in value.items():
            out.append(f"{path}.{key}")
            if key not in ("customFields", "properties"):
                out += _keys(item, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            out += _keys(item, path + "[]")
    return out


def test_every_list_answers_the_same_envelope_and_paging_parameters(api, world):
    for url, order in lists(world, api.site.pk).items():
        page = api.get(url)
        assert page.status_code == 200, (url, page.content)
        body = page.json()
        assert set(body) == ENVELOPE, url
        assert body["count"] == len(body["items"]) == body["totalResults"] >= 2, url
        assert (body["limit"], body["offset"], body["hasMore"]) == (1000, 0, False), url
        one = api.get(url, {"limit": 1, "offset": 1, "orderBy": f"{order} DESC"}).json()
        assert (one["count"], one["limit"], one["offset"]) == (1, 1, 1), url
        assert one["hasMore"] is (body["totalResults"] > 2), url
        assert set(api.get(url, {"totalResults": "false"}).json()) == ENVELOPE - {"totalResults"}, url
        for bad, field in (
            ({"limit": 0}, "limit"),
            ({"limit": 1001}, "limit"),
            ({"offset": -1}, "offset"),
            ({"totalResults": "maybe"}, "totalResults"),
            ({"orderBy": "nope"}, "orderBy"),
            ({"q": "nope=1"}, "q"),
        ):
            response = api.get(url, bad)
            assert response.status_code == 400, (url, bad)
            assert response.json()["failures"][0]["field"] == field, (url, bad)


def test_every_resource_is_camel_case_with_numbers_as_numbers(api, world):
    for url in [*lists(world, api.site.pk), *details(world, api.site.pk)]:
        body = api.get(url).json()
        bad = [k for k in _keys(body) if not CAMEL.match(k.rsplit(".", 1)[1])]
        assert not bad, (url, bad)
    opp = api.get(f"{V1}/opportunities/{world['opportunity'].uuid}").json()
    assert opp["amount"] == 250.0 and opp["probability"] == 0.1 and opp["weightedAmount"] == 25.0
    assert opp["opportunityStage"]["probability"] == 0.1
    for url in (f"{V1}/stages", f"{V1}/contacts/{world['contact'].uuid}/opportunities"):
        for item in api.get(url).json()["items"]:
            for key in ("probability", "amount"):
                if key in item:
                    assert isinstance(item[key], float | int) and not isinstance(item[key], bool), (url, item)


WRITES = [
    # (method, url template, a valid body)
    ("post", "/opportunities", {"name": "N"}),
    ("patch", "/opportunities/{opportunity}", {"name": "N"}),
    ("post", "/stages", {"name": "Brand new"}),
    ("patch", "/stages/{stage}", {"name": "Renamed"}),
    ("post", "/tags", {"name": "Warm"}),
    ("patch", "/tags/{tag}", {"name": "Hotter"}),
    ("post", "/owners", {"name": "Cy"}),
    ("patch", "/owners/{owner}", {"name": "Ann B"}),
    ("post", "/pipelines", {"externalId": "P3", "label": "Three"}),
    ("patch", "/pipelines/{pipeline}", {"label": "One"}),
    ("post", "/contacts", {"email": "new@example.com"}),
    ("patch", "/contacts/{contact}", {"firstName": "Al"}),
    ("post", "/accounts", {"name": "Gamma"}),
    ("patch", "/accounts/{account}", {"city": "Paris"}),
    ("post", "/deals", {"deals": [{"externalDealId": "d", "name": "d"}]}),
]


# /api/v1 names these by their integer id (Ruddr's door, /api/workspace, by their uuid).
BY_PK = ("stage", "tag", "owner", "pipeline")


def _url(template, world):
    ids = {
        k: getattr(v, "pk", v) if k in BY_PK else getattr(v, "uuid", None) or getattr(v, "pk", v)
        for k, v in world.items()
    }
    return V1 + template.format(**ids)


@pytest.mark.parametrize("method, template, valid", WRITES, ids=[f"{m} {t}" for m, t, _ in WRITES])
def test_every_write_refuses_unknown_and_read_only_properties_and_non_json_bodies(api, world, method, template, valid):
    url = _url(template, world)
    if template == "/opportunities":
        valid = {**valid, "companyId": str(world["account"].uuid)}
    # unknown and read-only properties: a 400 naming each of them, and nothing written
    bad = {**valid, "colour": "red", "id": 1} if template != "/deals" else {**valid, "colour": "red"}
    response = getattr(api, method)(url, bad, format="json")
    assert response.status_code == 400, (url, response.content)
    failures = {f["field"]: f["constraint"] for f in response.json()["failures"]}
    assert failures.get("colour") == "Unknown property.", failures
    if template != "/deals":
        assert failures.get("id") == "Read-only property.", failures
    # the contact import field name a client might guess is refused, not dropped
    if template == "/contacts":
        response = api.post(url, {"emailAddress": "x@example.com"}, format="json")
        assert response.status_code == 400 and response.json()["failures"][0]["field"] == "emailAddress"
    # a form-encoded (or any other non-JSON) body is a 415, never read as if it were JSON
    for content_type, data in (
        ("application/x-www-form-urlencoded", "name=N"),
        ("multipart/form-data; boundary=x", "--x--\r\n"),
        ("text/plain", '{"name": "N"}'),
    ):
        response = getattr(api, method)(url, data, content_type=content_type)
        assert response.status_code == 415, (url, content_type, response.content)
        assert response.json()["code"] == "unsupported_media_type"
    # and the valid body is accepted
    response = getattr(api, method)(url, valid, format="json")
    assert response.status_code in (200, 201), (url, response.content)


def test_the_batch_upload_is_the_one_multipart_write(api):
    response = api.post(f"{V1}/{api.site.pk}/opportunity/upload/batch", {"file": "x"}, format="json")
    assert response.status_code == 415


def _routes(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _routes(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p.callback


def test_every_route_that_answers_get_answers_head():
    checked = 0
    for route, callback in _routes(get_resolver().url_patterns):
        if not (route.startswith("api/v1/") or route.startswith("api/bulk/2.0/")):
            continue
        view = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
        if view is None or not hasattr(view, "get"):
            continue
        assert "head" in view.http_method_names, route
        checked += 1
    assert checked > 20


def test_head_answers_like_get_without_a_body(api, world):
    definition = ImportDefinitionFactory(site=api.site)
    sync = run_sync(definition, [{"OpportunityID": "1", "OpportunityName": "n", "Amount": "1", "Stage": "Proposal"}])
    job = BatchJob.objects.get(uuid=world["job"])
    run_sync_job = job.sync_id
    from tests.pipeline.helpers import drive

    drive(run_sync_job)
    bulk = "/api/bulk/2.0"
    urls = [
        *lists(world, api.site.pk),
        *details(world, api.site.pk),
        f"{V1}/{api.site.pk}/batch/{world['job']}/errors.csv",
        f"{V1}/{api.site.pk}/batch/{world['job']}/successes.csv",
        f"{bulk}/opportunities/fields",
        f"{bulk}/opportunities/fields/1",
        f"{bulk}/opportunities/imports",
        f"{bulk}/opportunities/imports/{definition.pk}",
        f"{bulk}/syncs",
        f"{bulk}/syncs/{sync.pk}",
        f"{bulk}/syncs/{sync.pk}/logs",
        f"{bulk}/syncs/{sync.pk}/rejects",
        f"{bulk}/contacts/fields",
        f"{bulk}/accounts/fields",
    ]
    for url in urls:
        get = api.get(url)
        head = api.head(url)
        assert get.status_code == 200, url
        assert head.status_code == 200, (url, head.status_code)
        content = b"".join(head.streaming_content) if head.streaming else head.content
        assert content == b"", url


@pytest.mark.parametrize(
    "url, query",
    [
        ("/opportunities", {"isActive": "maybe"}),
        ("/opportunities", {"ownerId": "1.5"}),
        ("/opportunities", {"tagId": "9" * 30}),
        ("/opportunities", {"opportunityStageId": "-1"}),
        ("/opportunities", {"modifiedSince": "yesterday"}),
        ("/opportunities", {"externalId": "a\x00b"}),
        ("/opportunities", {"search": "x" * 1001}),
        ("/opportunities", {"q": "amount>lots"}),
        ("/opportunities", {"q": "createdAt>soon"}),
        ("/contacts", {"updatedSince": "2024-13-01T00:00:00Z"}),
        ("/contacts", {"accountId": "nope"}),
        ("/contacts", {"email": "\x00"}),
        ("/accounts", {"updatedSince": "nope"}),
        ("/stages", {"q": "probability>high"}),
        ("/stages", {"q": "sortOrder=99999999999999999999"}),
    ],
)
def test_every_list_filter_checks_its_values(api, url, query):
    response = api.get(V1 + url, query)
    assert response.status_code == 400, (url, query, response.content)
    body = response.json()
    assert body["code"] == "validation_error"
    assert body["failures"][0]["field"] == next(iter(query)), body


def test_boolean_and_offset_filters_mean_what_they_say(api, world):
    from entities.opportunities.models import Opportunity

    Opportunity.objects.filter(pk=world["opportunity"].pk).update(is_active=False)
    url = f"{V1}/opportunities"
    assert [o["isActive"] for o in api.get(url, {"isActive": "false"}).json()["items"]] == [False]
    assert [o["isActive"] for o in api.get(url, {"isActive": "TRUE"}).json()["items"]] == [True]
    # date-times are compared in UTC; an offset past +/-15:59 (which PostgreSQL cannot take) is a 400
    assert api.get(url, {"modifiedSince": "2000-01-01T00:00:00+15:30"}).json()["totalResults"] == 2
    assert api.get(url, {"q": "createdAt>2000-01-01T00:00:00-15:00"}).json()["totalResults"] == 2
    for params, field in (({"modifiedSince": "2000-01-01T00:00:00+23:30"}, "modifiedSince"),
                          ({"q": "createdAt>2000-01-01T00:00:00-23:00"}, "q")):  # fmt: skip
        refused = api.get(url, params)
        assert refused.status_code == 400 and refused.json()["failures"][0]["field"] == field
    assert api.get(url, {"q": "amount=250"}).json()["totalResults"] == 2  # numbers compare as numbers
