"""`/api/workspace/`: Ruddr's door over the opportunities domain: rules, paging, tenancy, auth."""

import uuid
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from entities.contacts.models import Account
from entities.opportunities.models import Opportunity, OpportunityProject, Stage, StageStatus
from kernel.models import Site
from tests.conftest import basic
from tests.factories import (
    ClientFactory,
    LeadSourceFactory,
    OpportunityFactory,
    OpportunityTypeFactory,
    OwnerFactory,
    PracticeFactory,
    ProjectFactory,
    TagFactory,
)

pytestmark = pytest.mark.django_db
URL = "/api/workspace/opportunities"


@pytest.fixture
def company(api):
    return Account.objects.create(site=api.site, name="Acme Corp")


def failures(response) -> dict:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "validation_error"
    return {f["field"]: f["constraint"] for f in body["failures"]}


def post(api, company, **fields):
    return api.post(URL, {"name": "Deal", "companyId": str(company.uuid), **fields}, format="json")


# --- create: the document's rules --------------------------------------------------------------


def test_only_name_and_company_are_required(api):
    assert failures(api.post(URL, {}, format="json")) == {
        "name": "This field is required.",
        "companyId": "This field is required.",
    }


def test_every_bad_value_is_a_400_naming_its_field(api, company):
    bad = {
        "name": "x" * 256,
        "opportunityStageId": 5,
        "description": "x" * 5001,
        "nextSteps": "x" * 256,
        "amount": "12",
        "isActive": "yes",
        "probability": 0.12345,
        "closeDate": "2023/12/25",
        "priorityId": "urgent",
        "currency": "XYZ",
        "ownerId": "not-a-uuid",
        "opportunityLeadSourceId": 1,
        "opportunityTypeId": str(uuid.uuid4()),
        "tagIds": ["nope"],
        "practiceId": [],
        "projects": [{"id": "nope", "amount": "1"}],
        "cloudFolderUrl": "x" * 1025,
        "salesforceId": 6,
    }
    got = failures(api.post(URL, {"companyId": str(company.uuid), **bad}, format="json"))
    assert set(got) == {k for k in bad if k not in ("projects", "tagIds")} | {
        "tagIds[0]",
        "projects[0].id",
        "projects[0].amount",
    }
    assert got["opportunityTypeId"] == "No opportunity type with this id in this site."
    assert not Opportunity.objects.filter(site=api.site).exists()


def test_unknown_and_read_only_properties_are_refused_by_name(api, company):
    got = failures(post(api, company, colour="red", weightedAmount=5, timeSpent=3))
    assert got == {
        "colour": "Unknown property.",
        "weightedAmount": "Read-only property.",
        "timeSpent": "Read-only property.",
    }


def test_probability_is_0_to_1_with_at_most_four_decimals(api, company):
    assert set(failures(post(api, company, probability=1.0001))) == {"probability"}
    assert set(failures(post(api, company, probability=-0.1))) == {"probability"}
    assert post(api, company, probability=0.1234).json()["probability"] == 0.1234
    assert post(api, company, probability=1).json()["probability"] == 1


def test_project_ids_must_be_unique_and_of_this_site(api, other_api, company):
    mine, theirs = ProjectFactory(site=api.site), ProjectFactory(site=other_api.site)
    twice = [{"id": str(mine.uuid)}, {"id": str(mine.uuid), "amount": 5}]
    assert "must be unique" in failures(post(api, company, projects=twice))["projects"]
    assert failures(post(api, company, projects=[{"id": str(theirs.uuid)}]))["projects"].startswith("No project")
    out = post(api, company, projects=[{"id": str(mine.uuid)}]).json()
    assert out["projects"] == [{"id": str(mine.uuid), "name": mine.name, "amount": None}]


def test_another_sites_ids_are_not_found_and_nothing_leaks(api, other_api, company):
    other = other_api.site
    theirs = {
        "companyId": Account.objects.create(site=other, name="Theirs").uuid,
        "opportunityStageId": Stage.objects.filter(site=other).first().uuid,
        "ownerId": OwnerFactory(site=other).uuid,
        "opportunityLeadSourceId": LeadSourceFactory(site=other).uuid,
        "opportunityTypeId": OpportunityTypeFactory(site=other).uuid,
        "practiceId": PracticeFactory(site=other).uuid,
    }
    body = {"name": "Deal", **{k: str(v) for k, v in theirs.items()}, "tagIds": [str(TagFactory(site=other).uuid)]}
    got = failures(api.post(URL, body, format="json"))
    assert set(got) == set(theirs) | {"tagIds"}
    assert all("in this site" in message for message in got.values())

    # and their opportunity is a 404 for every method
    opp = OpportunityFactory(site=other)
    for method in ("get", "patch", "delete"):
        response = getattr(api, method)(f"{URL}/{opp.uuid}", {}, format="json")
        assert response.status_code == 404, method
        assert response.json()["code"] == "not_found"
    assert Opportunity.objects.filter(pk=opp.pk).exists()
    assert api.get(URL).json() == {"results": [], "hasMore": False}


def test_currency_defaults_to_the_sites_and_the_open_date_to_today(api, company):
    Site.objects.filter(pk=api.site.pk).update(default_currency="EUR")
    api.site.refresh_from_db()
    out = post(api, company).json()
    assert out["currency"] == "EUR" and out["openDate"] is not None
    assert out["owner"] is None and out["practice"] is None and out["tags"] == [] and out["projects"] == []
    assert out["company"]["client"] is None and out["amount"] is None and out["weightedAmount"] is None


# --- the default stage -------------------------------------------------------------------------


def test_without_a_site_default_the_stage_is_the_active_open_one_with_the_lowest_probability(api, company):
    # given a site that has not chosen a default stage
    Site.objects.filter(pk=api.site.pk).update(default_stage=None)
    api.site.refresh_from_db()
    # ...and stages that must not count: won/lost, inactive, and one an import made by name
    Stage.objects.create(site=api.site, name="Dead", probability=Decimal(0), status=StageStatus.LOST)
    Stage.objects.create(site=api.site, name="Retired", probability=Decimal("0.01"), is_active=False)
    Stage.objects.create(site=api.site, name="Propsal")  # probability null, as a batch file makes it
    Stage.objects.create(site=api.site, name="Lead", probability=Decimal("0.05"))

    # when / then: Lead (0.05), not Prospecting (0.1) nor any stage that does not count
    assert post(api, company).json()["opportunityStage"]["name"] == "Lead"
    assert Stage.objects.get(site=api.site, name="Propsal").probability is None


def test_the_sites_default_stage_stays_the_override(api, company):
    Stage.objects.create(site=api.site, name="Lead", probability=Decimal("0.05"))
    proposal = Stage.objects.get(site=api.site, name="Proposal")
    Site.objects.filter(pk=api.site.pk).update(default_stage=proposal)
    api.site.refresh_from_db()
    assert post(api, company).json()["opportunityStage"]["name"] == "Proposal"


def test_a_site_with_no_stage_that_counts_refuses_an_opportunity_naming_none(api, company):
    Site.objects.filter(pk=api.site.pk).update(default_stage=None)
    Stage.objects.filter(site=api.site, status=StageStatus.OPEN).update(probability=None)
    api.site.refresh_from_db()
    assert set(failures(post(api, company))) == {"opportunityStageId"}


# --- read, update, delete ----------------------------------------------------------------------


def test_patch_changes_only_what_it_names_and_replaces_tags_and_projects(api, company):
    a, b = ProjectFactory(site=api.site), ProjectFactory(site=api.site)
    hot, cold = TagFactory(site=api.site), TagFactory(site=api.site)
    out = post(
        api,
        company,
        amount=100,
        tagIds=[str(hot.uuid)],
        projects=[{"id": str(a.uuid), "amount": 60}, {"id": str(b.uuid), "amount": 40}],
        practiceId=str(PracticeFactory(site=api.site).uuid),
    ).json()
    won = Stage.objects.get(site=api.site, name="Closed Won")

    patched = api.patch(
        f"{URL}/{out['id']}",
        {
            "opportunityStageId": str(won.uuid),
            "tagIds": [str(cold.uuid)],
            "projects": [{"id": str(b.uuid), "amount": 100}],
            "practiceId": None,
        },
        format="json",
    )

    assert patched.status_code == 200, patched.content
    new = patched.json()
    assert new["opportunityStage"] == {"id": str(won.uuid), "name": "Closed Won", "statusId": "won"}
    assert new["tags"] == [{"id": str(cold.uuid), "name": cold.name}]
    assert new["projects"] == [{"id": str(b.uuid), "name": b.name, "amount": 100}]
    assert new["practice"] is None
    assert new["amount"] == 100 and new["name"] == "Deal" and new["probability"] == 1 and new["weightedAmount"] == 100
    assert new["modifiedAt"] >= out["modifiedAt"]
    assert OpportunityProject.objects.filter(opportunity__uuid=out["id"]).count() == 1
    assert failures(api.patch(f"{URL}/{out['id']}", {"id": out["id"]}, format="json")) == {"id": "Read-only property."}


def test_delete_answers_204_and_then_404(api, company):
    out = post(api, company, projects=[{"id": str(ProjectFactory(site=api.site).uuid)}]).json()
    assert api.delete(f"{URL}/{out['id']}").status_code == 204
    assert api.get(f"{URL}/{out['id']}").status_code == 404
    assert api.delete(f"{URL}/{out['id']}").status_code == 404
    assert not OpportunityProject.objects.exists()


def test_an_opportunity_another_door_stored_reads_back_in_ruddrs_shape(api):
    opp = OpportunityFactory(site=api.site, amount=Decimal("10.5"), currency=None)
    out = api.get(f"{URL}/{opp.uuid}").json()
    assert out["amount"] == 10.5 and out["currency"] == api.site.default_currency
    assert out["salesforceId"] is None and out["hubspotId"] is None and out["timeSpent"] == 0
    assert out["company"] is None and out["cloudFolderUrl"] is None


# --- lists: Ruddr's shape and cursor paging ----------------------------------------------------


def test_list_pages_forward_and_back_by_cursor(api):
    ids = [str(o.uuid) for o in OpportunityFactory.create_batch(25, site=api.site)]
    ids.sort()  # uuid7: creation order

    first = api.get(URL).json()
    assert list(first) == ["results", "hasMore"]
    assert [o["id"] for o in first["results"]] == ids[:10] and first["hasMore"] is True
    second = api.get(URL, {"startingAfter": ids[9]}).json()
    assert [o["id"] for o in second["results"]] == ids[10:20] and second["hasMore"] is True
    last = api.get(URL, {"startingAfter": ids[19], "limit": 10}).json()
    assert [o["id"] for o in last["results"]] == ids[20:] and last["hasMore"] is False

    back = api.get(URL, {"endingBefore": ids[20]}).json()
    assert [o["id"] for o in back["results"]] == ids[10:20] and back["hasMore"] is True
    start = api.get(URL, {"endingBefore": ids[10]}).json()
    assert [o["id"] for o in start["results"]] == ids[:10] and start["hasMore"] is False
    short = api.get(URL, {"endingBefore": ids[3], "limit": 2}).json()
    assert [o["id"] for o in short["results"]] == ids[1:3] and short["hasMore"] is True
    assert len(api.get(URL, {"limit": 100}).json()["results"]) == 25


@pytest.mark.parametrize(
    "params,field",
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"startingAfter": "nope"}, "startingAfter"),
        ({"endingBefore": str(uuid.uuid4())}, "endingBefore"),
        ({"sort": "name"}, "sort"),
    ],
)
def test_bad_list_parameters_are_400s_naming_them(api, params, field):
    assert set(failures(api.get(URL, params))) == {field}


def test_a_cursor_of_another_site_is_refused_and_both_cursors_at_once_too(api, other_api):
    mine = OpportunityFactory(site=api.site)
    theirs = OpportunityFactory(site=other_api.site)
    assert set(failures(api.get(URL, {"startingAfter": str(theirs.uuid)}))) == {"startingAfter"}
    both = {"startingAfter": str(mine.uuid), "endingBefore": str(mine.uuid)}
    assert set(failures(api.get(URL, both))) == {"endingBefore"}


def test_a_list_page_costs_the_same_queries_whatever_its_size(api, django_assert_num_queries):
    client = ClientFactory(site=api.site)
    company = Account.objects.create(site=api.site, name="Acme")
    client.company = company
    client.save()
    project = ProjectFactory(site=api.site)
    for _ in range(12):
        post(api, company, tagIds=[str(TagFactory(site=api.site).uuid)], projects=[{"id": str(project.uuid)}])
    # auth (token, user+site), the page, its tags, its projects
    with django_assert_num_queries(4):
        page = api.get(URL, {"limit": 12}).json()
    assert len(page["results"]) == 12 and all(o["company"]["client"] for o in page["results"])


# --- the resources an opportunity refers to ----------------------------------------------------


@pytest.mark.parametrize(
    "path,make,shape",
    [
        ("opportunity-types", OpportunityTypeFactory, {"id", "name", "isActive"}),
        ("opportunity-lead-sources", LeadSourceFactory, {"id", "name", "isActive"}),
        ("practices", PracticeFactory, {"id", "name", "isActive"}),
        ("tags", TagFactory, {"id", "name"}),
        ("members", OwnerFactory, {"id", "name", "email"}),
        ("projects", ProjectFactory, {"id", "name", "isActive", "client"}),
    ],
)
def test_reference_lists_are_site_scoped_and_paged(api, other_api, path, make, shape):
    url = f"/api/workspace/{path}"
    mine = sorted(str(make(site=api.site).uuid) for _ in range(3))
    theirs = make(site=other_api.site)

    page = api.get(url, {"limit": 2}).json()
    assert [r["id"] for r in page["results"]] == mine[:2] and page["hasMore"] is True
    assert set(page["results"][0]) == shape
    rest = api.get(url, {"startingAfter": mine[1]}).json()
    assert [r["id"] for r in rest["results"]] == mine[2:] and rest["hasMore"] is False
    assert api.get(f"{url}/{mine[0]}").json()["id"] == mine[0]
    assert api.get(f"{url}/{theirs.uuid}").status_code == 404
    assert set(failures(api.get(url, {"startingAfter": str(theirs.uuid)}))) == {"startingAfter"}


def test_stages_show_probability_status_and_whether_active(api, other_api):
    Stage.objects.create(site=api.site, name="Typo from a file")
    results = api.get("/api/workspace/opportunity-stages", {"limit": 100}).json()["results"]
    by_name = {r["name"]: r for r in results}
    assert set(by_name) == set(Stage.objects.filter(site=api.site).values_list("name", flat=True))
    assert by_name["Proposal"] == {
        "id": str(Stage.objects.get(site=api.site, name="Proposal").uuid),
        "name": "Proposal",
        "probability": 0.5,
        "statusId": "open",
        "isActive": True,
    }
    assert by_name["Closed Won"]["statusId"] == "won" and by_name["Closed Lost"]["probability"] == 0
    assert by_name["Typo from a file"]["probability"] is None


def test_companies_show_their_client(api, other_api):
    with_client = Account.objects.create(site=api.site, name="Acme Corp")
    ClientFactory(site=api.site, company=with_client, key="acme-corp", name="Acme Corp")
    Account.objects.create(site=other_api.site, name="Theirs")
    results = api.get("/api/workspace/companies").json()["results"]
    assert [r["name"] for r in results] == ["Acme Corp"]
    assert results[0]["client"]["key"] == "acme-corp"


# --- authentication ----------------------------------------------------------------------------


def test_an_oauth_access_token_opens_the_door_too(user):
    from oauth2_provider.models import Application

    Application(
        name="ruddr-client",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_PASSWORD,
        client_id="ruddr-client",
        client_secret="ruddr-secret",
        user=user,
    ).save()
    grant = {
        "grant_type": "password",
        "username": f"{user.site.name}\\{user.username}",
        "password": "secret-pass",
        "client_id": "ruddr-client",
        "client_secret": "ruddr-secret",
    }
    token = APIClient().post("/auth/oauth2/token", grant).json()["access_token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get(URL).json() == {"results": [], "hasMore": False}


def test_the_door_takes_the_servers_credentials_and_refuses_none(api, user):
    assert APIClient().get(URL).status_code == 401
    login = f"{user.site.name}\\{user.username}"
    assert APIClient().get(URL, **basic(login, "secret-pass")).status_code == 200
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=api._credentials["HTTP_AUTHORIZATION"].split()[1])
    assert client.get(URL).status_code == 200
