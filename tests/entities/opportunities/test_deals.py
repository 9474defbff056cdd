"""`POST /api/v1/deals`: upsert by externalDealId with per-item results."""

import json
from datetime import date
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from entities.opportunities.models import Opportunity, Owner, Pipeline, Stage
from entities.opportunities.services import deals_upsert
from tests.factories import AccountFactory, OpportunityFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/deals"


def upsert(api, *deals):
    response = api.post(URL, {"deals": list(deals)}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def deal(ext="deal-001", **fields):
    return {"externalDealId": ext, "name": f"Deal {ext}", **fields}


def test_creates_then_updates_with_x_api_key(api, token):
    # given a client using X-Api-Key
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=token.raw)

    # when
    out = upsert(
        client,
        deal(
            amount=1500.5,
            stageId="s-neg",
            stageLabel="Negotiating",
            pipelineId="p-1",
            pipelineLabel="Sales",
            startDate="2026-01-05T10:00:00Z",
            closedDate="2026-03-01",
            ownerName="Ann Smith",
            ownerEmail="ann@example.com",
            ownerId="u-1",
            dealCurrencyCode="eur",
        ),
    )

    # then
    assert out["summary"] == {"total": 1, "upserted": 1, "failed": 0}
    [result] = out["results"]
    assert result["externalDealId"] == "deal-001" and result["status"] == "upserted"
    assert result["action"] == "created"
    opp = Opportunity.objects.get(site=api.site, external_id="deal-001")
    assert str(opp.uuid) == result["id"]
    assert opp.name == "Deal deal-001" and opp.amount == Decimal("1500.5") and opp.currency == "EUR"
    assert opp.open_date == date(2026, 1, 5) and opp.close_date == date(2026, 3, 1)
    assert opp.stage.external_id == "s-neg" and opp.stage.name == "Negotiating"
    assert opp.stage.pipeline == Pipeline.objects.get(site=api.site, external_id="p-1", label="Sales")
    assert (opp.owner.external_id, opp.owner.name, opp.owner.email) == ("u-1", "Ann Smith", "ann@example.com")
    assert opp.owner_name == "Ann Smith"

    # when the same deal comes again with a new amount only
    out = upsert(client, deal(amount=99))
    assert out["results"][0]["action"] == "updated"
    opp.refresh_from_db()
    assert opp.amount == 99
    assert opp.currency == "EUR" and opp.stage.external_id == "s-neg" and opp.owner.external_id == "u-1"
    assert Opportunity.objects.count() == 1


def test_a_request_is_idempotent(api):
    deals = [deal(f"d-{i}", amount=i, stageLabel="Proposal", ownerEmail="o@example.com") for i in range(5)]
    first = upsert(api, *deals)
    state = list(Opportunity.objects.order_by("external_id").values())
    counts = (Stage.objects.count(), Owner.objects.count(), Pipeline.objects.count())

    second = upsert(api, *deals)

    assert [r["action"] for r in first["results"]] == ["created"] * 5
    assert [r["action"] for r in second["results"]] == ["unchanged"] * 5
    assert [r["id"] for r in second["results"]] == [r["id"] for r in first["results"]]
    assert list(Opportunity.objects.order_by("external_id").values()) == state  # updated_at too
    assert (Stage.objects.count(), Owner.objects.count(), Pipeline.objects.count()) == counts


def test_one_bad_deal_fails_alone_and_results_keep_input_order(api):
    out = upsert(
        api,
        deal("ok-1"),
        deal("bad-amount", amount="lots"),
        {"name": "no id"},
        deal("bad-email", ownerEmail="not-an-email"),
        deal("bad-date", closedDate="31/12/2026"),
        deal("bad-currency", dealCurrencyCode="ZZZ"),
        deal("ok-2", amount="12.50"),
        "not an object",
        deal("extra", colour="red"),
        deal("", name=""),
    )
    results = out["results"]
    assert [r["index"] for r in results] == list(range(10))
    assert [r["status"] for r in results] == ["upserted", "failed", "failed", "failed", "failed", "failed",
                                             "upserted", "failed", "failed", "failed"]  # fmt: skip
    assert out["summary"] == {"total": 10, "upserted": 2, "failed": 8}
    assert results[1]["error"].startswith("amount: ")
    assert results[2]["externalDealId"] is None and results[2]["error"].startswith("externalDealId: ")
    assert results[3]["error"].startswith("ownerEmail: ")
    assert results[4]["error"].startswith("closedDate: ")
    assert results[5]["error"].startswith("dealCurrencyCode: ")
    assert results[8]["error"] == "colour: Unknown property."
    assert {f["field"] for f in results[9]["failures"]} == {"externalDealId", "name"}
    assert set(Opportunity.objects.values_list("external_id", flat=True)) == {"ok-1", "ok-2"}
    assert Opportunity.objects.get(external_id="ok-2").amount == Decimal("12.5")


def test_a_failed_update_leaves_the_deal_as_it_was(api):
    upsert(api, deal("d-1", amount=10, closedDate="2026-01-01"))
    out = upsert(api, deal("d-1", amount=20, closedDate="never"))
    assert out["results"][0]["status"] == "failed"
    opp = Opportunity.objects.get(external_id="d-1")
    assert opp.amount == 10 and opp.close_date == date(2026, 1, 1)


def test_duplicate_ids_in_one_request_fail_the_later_ones(api):
    out = upsert(api, deal("d-1", amount=1), deal("d-1", amount=2))
    assert [r["status"] for r in out["results"]] == ["upserted", "failed"]
    assert out["results"][1]["error"] == "externalDealId: Duplicate of the deal at index 0."
    assert Opportunity.objects.get(external_id="d-1").amount == 1


@pytest.mark.parametrize("count", [0, 101])
def test_envelope_limits_are_a_400(api, count):
    response = api.post(URL, {"deals": [deal(f"d-{i}") for i in range(count)]}, format="json")
    assert response.status_code == 400
    [failure] = response.json()["failures"]
    assert failure["field"] == "deals" and "1 to 100" in failure["constraint"]
    assert not Opportunity.objects.exists()


@pytest.mark.parametrize("payload", [{}, {"deals": "x"}, {"deals": [], "more": 1}, []])
def test_bad_envelopes_are_a_400(api, payload):
    assert api.post(URL, payload, format="json").status_code == 400


def test_unauthenticated_is_401(api):
    assert APIClient().post(URL, {"deals": [deal()]}, format="json").status_code == 401


def test_one_hundred_deals_take_a_fixed_number_of_queries(api, django_assert_max_num_queries):
    deals = [
        deal(f"d-{i}", amount=i, stageId=f"s-{i % 3}", pipelineId="p", ownerId=f"u-{i % 4}", ownerName=f"User {i % 4}",
             associatedAccounts=[{"domain": f"www.c{i}.com"}])
        for i in range(100)
    ]  # fmt: skip
    with django_assert_max_num_queries(30):
        out = upsert(api, *deals)
    assert out["summary"]["upserted"] == 100
    with django_assert_max_num_queries(15):
        out = upsert(api, *deals)
    assert {r["action"] for r in out["results"]} == {"unchanged"}


def test_accounts_match_by_external_id_then_normalised_domain(api, other_api):
    by_domain = AccountFactory(site=api.site, name="Acme", domain="acme.com", external_id=None)
    by_ext = AccountFactory(site=api.site, name="Globex", domain="globex.com", external_id="CRM-9")
    AccountFactory(site=other_api.site, name="Elsewhere", domain="nomatch.com", external_id=None)

    upsert(
        api,
        deal("d-domain", associatedAccounts=[{"domain": "https://WWW.Acme.com/about", "name": "ACME"}]),
        deal("d-ext", associatedAccounts=[{"domain": "acme.com"}, {"externalId": "CRM-9"}]),
        deal("d-none", associatedAccounts=[{"domain": "nomatch.com", "name": "Nobody Inc"}]),
        deal("d-absent"),
    )

    opps = {o.external_id: o for o in Opportunity.objects.all()}
    assert opps["d-domain"].company == by_domain and opps["d-domain"].account_name == "Acme"
    assert opps["d-ext"].company == by_ext
    assert opps["d-none"].company is None and opps["d-none"].account_name == "Nobody Inc"
    assert opps["d-absent"].company is None


def test_stage_label_matches_existing_stage_and_unknown_ids_adopt_or_create(api):
    upsert(
        api,
        deal("by-label", stageLabel="proposal"),
        deal("adopts", stageId="crm-7", stageLabel="Negotiation"),
        deal("new", stageId="crm-8", stageLabel="Verbal"),
        deal("default"),
        deal("pipeline-only", pipelineLabel="Renewals"),
    )
    opps = {o.external_id: o for o in Opportunity.objects.select_related("stage")}
    assert opps["by-label"].stage.name == "Proposal"
    assert opps["adopts"].stage.name == "Negotiation" and opps["adopts"].stage.external_id == "crm-7"
    assert opps["new"].stage.name == "Verbal" and opps["new"].stage.external_id == "crm-8"
    assert opps["default"].stage.name == "Prospecting"
    assert Pipeline.objects.filter(site=api.site, external_id="Renewals", label="Renewals").exists()
    # a stage id whose label is taken by a stage with another id fails that deal only
    out = upsert(api, deal("clash", stageId="crm-9", stageLabel="Verbal"), deal("fine"))
    assert [r["status"] for r in out["results"]] == ["failed", "upserted"]
    assert out["results"][0]["error"].startswith("stageId: ")


def test_updates_opportunities_from_other_doors_and_keeps_their_fields(api):
    opp = OpportunityFactory(site=api.site, external_id="ELQ-5", territory="EMEA", currency="USD")
    out = upsert(api, deal("ELQ-5", name="Renamed"))
    assert out["results"][0] == {
        "index": 0, "externalDealId": "ELQ-5", "status": "upserted", "action": "updated", "id": str(opp.uuid)
    }  # fmt: skip
    opp.refresh_from_db()
    assert opp.name == "Renamed" and opp.territory == "EMEA" and opp.currency == "USD"


def test_explicit_nulls_clear_and_the_site_currency_is_the_default(api):
    api.site.default_currency = "GBP"
    api.site.save()
    upsert(api, deal("d-1", amount=5, closedDate="2026-01-01"))
    opp = Opportunity.objects.get(external_id="d-1")
    assert opp.currency == "GBP"
    upsert(api, deal("d-1", amount=None, closedDate=None))
    opp.refresh_from_db()
    assert opp.amount is None and opp.close_date is None and opp.currency == "GBP"


def test_deals_are_site_scoped(api, other_api):
    upsert(api, deal("same-id", amount=1))
    upsert(other_api, deal("same-id", amount=2))
    assert sorted(Opportunity.objects.values_list("site_id", "amount")) == sorted(
        [(api.site.pk, Decimal(1)), (other_api.site.pk, Decimal(2))]
    )


def test_service_reports_outcomes_in_input_order(site):
    outcomes = deals_upsert(
        site=site, deals=[(0, {"external_id": "b", "name": "B"}), (1, {"external_id": "a", "name": "A"})]
    )
    assert [(o.index, o.external_id, o.action) for o in outcomes] == [(0, "b", "created"), (1, "a", "created")]


# One bad deal among 99 good ones, for every edge check of the door: each fails that deal alone,
# naming the field, and the 99 others are stored. The body is sent as raw JSON text, so values JSON
# can carry but Python's encoder would not write as such (1e400, a lone surrogate escape) arrive as
# a client sends them. `field` is the failure's field; `constraint` a part of its message.
BAD_DEALS = {
    "NUL in name": (r'{"externalDealId": "bad", "name": "a\u0000b"}', "name", "NUL"),
    "NUL in externalDealId": (r'{"externalDealId": "b\u0000d", "name": "n"}', "externalDealId", "NUL"),
    "amount 1e400": ('{"externalDealId": "bad", "name": "n", "amount": 1e400}', "amount", "finite"),
    "amount -1e400": ('{"externalDealId": "bad", "name": "n", "amount": -1e400}', "amount", "finite"),
    "amount of 41 digits": ('{"externalDealId": "bad", "name": "n", "amount": ' + "9" * 41 + "}", "amount", "40"),
    "amount 1e308 (too many digits)": ('{"externalDealId": "bad", "name": "n", "amount": 1e308}', "amount", "digits"),
    "amount NaN text": ('{"externalDealId": "bad", "name": "n", "amount": "NaN"}', "amount", "number"),
    "amount Infinity text": ('{"externalDealId": "bad", "name": "n", "amount": "Infinity"}', "amount", "number"),
    "amount an object": ('{"externalDealId": "bad", "name": "n", "amount": {"v": 1}}', "amount", "number"),
    "name an object": ('{"externalDealId": "bad", "name": {"v": "n"}}', "name", "valid string"),
    "name a list": ('{"externalDealId": "bad", "name": ["n"]}', "name", "valid string"),
    "externalDealId an object": ('{"externalDealId": {"id": 1}, "name": "n"}', "externalDealId", "valid string"),
    "name 256 characters": ('{"externalDealId": "bad", "name": "' + "n" * 256 + '"}', "name", "255"),
    "externalDealId 100,000 characters": (
        '{"externalDealId": "' + "x" * 100_000 + '", "name": "n"}',
        "externalDealId",
        "255",
    ),
    "lone surrogate in stageLabel": (
        r'{"externalDealId": "bad", "name": "n", "stageLabel": "\ud800"}',
        "stageLabel",
        "surrogate",
    ),
    "NUL in a nested account": (
        r'{"externalDealId": "bad", "name": "n", "associatedAccounts": [{"name": "a\u0000"}]}',
        "associatedAccounts[0].name",
        "NUL",
    ),
    "NUL in a property name": (r'{"externalDealId": "bad", "name": "n", "x\u0000": 1}', "x\x00", "Property name"),
    "nested too deep": (
        '{"externalDealId": "bad", "name": "n", "associatedAccounts": ' + "[" * 40 + "]" * 40 + "}",
        "associatedAccounts" + "[0]" * 29,  # the deal is 2 deep in the body: 32 in all
        "nest",
    ),
    "ownerEmail with NUL": (
        r'{"externalDealId": "bad", "name": "n", "ownerEmail": "a\u0000@x.io"}',
        "ownerEmail",
        "NUL",
    ),
    "startDate an object": ('{"externalDealId": "bad", "name": "n", "startDate": {"y": 2026}}', "startDate", "ISO"),
    "closedDate with NUL": (
        r'{"externalDealId": "bad", "name": "n", "closedDate": "2026-01-01\u0000"}',
        "closedDate",
        "NUL",
    ),
    "dealCurrencyCode a number": (
        '{"externalDealId": "bad", "name": "n", "dealCurrencyCode": 840}',
        "dealCurrencyCode",
        "string",
    ),
    "51 associatedAccounts": (
        '{"externalDealId": "bad", "name": "n", "associatedAccounts": [' + ", ".join(['{"name": "a"}'] * 51) + "]}",
        "associatedAccounts",
        "50",
    ),
    "an account not an object": (
        '{"externalDealId": "bad", "name": "n", "associatedAccounts": ["acme.com"]}',
        "associatedAccounts[0].body",
        "object",
    ),
    "amount 1e400 in text": ('{"externalDealId": "bad", "name": "n", "amount": "1e400"}', "amount", "digits"),
    "a number where text belongs, 1e400": ('{"externalDealId": "bad", "name": 1e400}', "name", "finite"),
    "associatedAccounts an object": (
        '{"externalDealId": "bad", "name": "n", "associatedAccounts": {"name": "a"}}',
        "associatedAccounts",
        "list",
    ),
}


@pytest.mark.parametrize("bad", BAD_DEALS.values(), ids=BAD_DEALS.keys())
def test_one_bad_deal_among_99_good_fails_alone_naming_the_field(api, bad):
    # given 99 good deals and one bad one in the middle, as raw JSON text
    raw, field, constraint = bad
    good = [json.dumps(deal(f"good-{i:02}", amount=i)) for i in range(99)]
    body = '{"deals": [' + ", ".join([*good[:50], raw, *good[50:]]) + "]}"

    # when
    response = api.generic("POST", URL, body.encode(), content_type="application/json")

    # then the request is a 200 with a result per deal; the bad one alone failed, naming the field
    assert response.status_code == 200, response.content
    out = response.json()
    assert out["summary"] == {"total": 100, "upserted": 99, "failed": 1}
    failed = out["results"][50]
    assert failed["index"] == 50 and failed["status"] == "failed", failed
    assert [f["field"] for f in failed["failures"]] == [field], failed
    assert constraint.lower() in failed["failures"][0]["constraint"].lower(), failed
    assert failed["error"].startswith(f"{field}: ")
    # the id is echoed when it is text that could be stored, else null (the index names the deal)
    assert failed["externalDealId"] in ("bad", None, "x" * 100_000)
    assert failed["externalDealId"] is None or "\x00" not in failed["externalDealId"]
    assert [r["status"] for i, r in enumerate(out["results"]) if i != 50] == ["upserted"] * 99
    # and the 99 good ones are stored, the bad one is not
    assert set(Opportunity.objects.values_list("external_id", flat=True)) == {f"good-{i:02}" for i in range(99)}


@pytest.mark.parametrize(
    "body",
    [
        r'{"deals": [{"externalDealId": "d", "name": "n"}], "x\u0000": 1}',  # NUL beside the deals
        r'{"deals": [{"externalDealId": "d", "name": "n"}], "extra": "\u0000"}',
        '{"deals": [{"externalDealId": "d", "name": "n"}], "extra": 1e400}',
        '{"deals": [{"externalDealId": "d", "name": "n", "amount": NaN}]}',  # not JSON at all
        '{"deals": [{"externalDealId": "d", "name": "n"}]',  # cut short
        '{"deals": ' + "[" * 100_000 + "]" * 100_000 + "}",
        r'"\u0000"',
    ],
)
def test_what_is_not_a_deal_stays_a_whole_request_400(api, body):
    response = api.generic("POST", URL, body.encode(), content_type="application/json")
    assert response.status_code == 400, response.content
    assert not Opportunity.objects.exists()


def test_a_property_name_holding_a_nul_fails_its_deal_and_the_answer_is_kept_for_its_key(api):
    """Found by schemathesis: a failed deal's field named by a client key with a NUL made the
    stored answer of its Idempotency-Key unstorable (jsonb has no NUL): a 500."""
    body = {"deals": [deal("ok-1"), {**deal("bad-1"), "associatedAccounts": [{"\x00x\ud800": 1, "name": "A"}]}]}
    headers = {"HTTP_IDEMPOTENCY_KEY": "nul-key-1"}
    first = api.post("/api/v1/deals", json.dumps(body), content_type="application/json", **headers)
    assert first.status_code == 200, first.content
    results = first.json()["results"]
    assert [r["status"] for r in results] == ["upserted", "failed"]
    assert "\x00" not in json.dumps(results[1], ensure_ascii=False)
    assert results[1]["failures"][0]["field"].startswith("associatedAccounts[0].")
    again = api.post("/api/v1/deals", json.dumps(body), content_type="application/json", **headers)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
