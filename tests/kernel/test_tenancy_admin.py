"""Another site's objects are 404 on every endpoint, and admin shows staff only their own site."""

import pytest
from django.test import Client

from entities.opportunities.models import Opportunity
from pipeline.models import ImportDefinition
from tests.factories import ImportDefinitionFactory, OpportunityFactory, SiteFactory, UserFactory
from tests.pipeline.helpers import run_sync

pytestmark = pytest.mark.django_db


def test_every_bulk_object_of_another_site_is_404(api, other_api):
    definition = ImportDefinitionFactory(site=api.site)
    sync = run_sync(definition, [{"OpportunityID": "1", "OpportunityName": "n", "Amount": "x", "Stage": "Proposal"}])
    stage_id = api.get("/api/v1/stages").json()["items"][0]["id"]
    for path in (
        f"/api/bulk/2.0/opportunities/imports/{definition.pk}",
        f"/api/bulk/2.0/syncs/{sync.pk}",
        f"/api/bulk/2.0/syncs/{sync.pk}/logs",
        f"/api/bulk/2.0/syncs/{sync.pk}/rejects",
        f"/api/v1/stages/{stage_id}",
    ):
        assert api.get(path).status_code == 200, path
        response = other_api.get(path)
        assert response.status_code == 404, path
        assert response.json()["code"] == "not_found"
    assert other_api.get("/api/bulk/2.0/syncs").json()["totalResults"] == 0
    assert api.get("/api/bulk/2.0/syncs").json()["totalResults"] == 1


def test_admin_is_scoped_to_the_staff_users_site(site):
    staff = UserFactory(site=site, is_staff=True, is_superuser=True)
    staff.is_superuser = False
    staff.save()
    from django.contrib.auth.models import Permission

    staff.user_permissions.set(Permission.objects.filter(codename__in=["view_opportunity", "view_importdefinition"]))
    mine = OpportunityFactory(site=site, name="Mine")
    theirs = OpportunityFactory(site=SiteFactory(), name="Theirs")
    ImportDefinitionFactory(site=site, name="My import")
    ImportDefinitionFactory(site=theirs.site, name="Their import")
    client = Client()
    client.force_login(staff)
    page = client.get("/admin/opportunities/opportunity/").content.decode()
    assert "Mine" in page and "Theirs" not in page
    assert client.get(f"/admin/opportunities/opportunity/{theirs.pk}/change/").status_code in (302, 404)
    assert client.get(f"/admin/opportunities/opportunity/{mine.pk}/change/").status_code == 200
    page = client.get("/admin/bulkapi/importdefinition/").content.decode()
    assert "My import" in page and "Their import" not in page
    assert Opportunity.objects.count() == 2 and ImportDefinition.objects.count() == 2


def test_admin_permission_denied_is_djangos_403_page_not_a_json_500(site):
    """A staff user without a model's permission gets admin's own 403, not our API's JSON 500."""
    staff = UserFactory(site=site, is_staff=True)
    client = Client()
    client.force_login(staff)
    response = client.get("/admin/opportunities/opportunity/add/")
    assert response.status_code == 403
    assert "json" not in response["Content-Type"]
