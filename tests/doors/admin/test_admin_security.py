"""Tenant-safe admin: a site's staff see and pick only their own site's records; only superusers
grant privileges; no form links two sites' records; pipeline records are read-only."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core.management import call_command
from django.forms.models import model_to_dict
from django.test import Client
from django.urls import reverse

from entities.contacts.models import Contact
from entities.opportunities.models import Opportunity, Stage
from kernel.models import User
from pipeline.models import ImportDefinition, Sync
from tests.doors.admin.helpers import form_data, grant, populate, staff_user, superuser
from tests.factories import SiteFactory, SyncFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_sites(site):
    other = SiteFactory(name="AcmeTheirs")
    return populate(site, "Mine"), populate(other, "Theirs"), site, other


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_staff_user_cannot_grant_themselves_superuser_status_groups_or_permissions(site):
    # given a staff user allowed to change users (as an over-generous superuser might set up)
    staff = staff_user(site)
    grant(staff, "change_user", "view_user", "change_group", "view_group")
    client = login(staff)
    url = reverse("admin:bulkapi_user_change", args=[staff.pk])
    page = client.get(url)
    assert page.status_code == 200
    data = form_data(page)
    # when they tick every privilege on their own account
    data.update(is_superuser="on", is_staff="on", user_permissions=["1", "2"], first_name="Changed")
    response = client.post(url, data)
    # then their details change but no privilege does
    assert response.status_code == 302
    staff.refresh_from_db()
    assert staff.first_name == "Changed"
    assert not staff.is_superuser
    assert staff.user_permissions.count() == 4  # the four granted above, not more
    assert client.get(reverse("admin:auth_group_changelist")).status_code == 403


def test_staff_user_cannot_touch_other_staff_or_superusers_of_their_site(site):
    staff = staff_user(site)
    grant(staff, "change_user", "view_user")
    colleague = staff_user(site, username="colleague")
    boss = UserFactory(site=site, username="boss", is_staff=True, is_superuser=True)
    client = login(staff)
    assert client.get(reverse("admin:bulkapi_user_change", args=[boss.pk])).status_code == 302  # not found
    page = client.get(reverse("admin:bulkapi_user_change", args=[colleague.pk]))
    assert page.status_code == 200 and not page.context["has_change_permission"]
    assert client.post(f"/admin/bulkapi/user/{colleague.pk}/password/", {}).status_code == 403


def test_staff_list_filters_and_pickers_show_only_their_own_site(two_sites):
    mine, theirs, site, other = two_sites
    client = login(staff_user(site))
    for url in (
        reverse("admin:opportunities_opportunity_changelist"),
        reverse("admin:opportunities_stage_changelist"),
        reverse("admin:contacts_contact_changelist"),
        reverse("admin:bulkapi_importdefinition_changelist"),
        reverse("admin:syncs_sync_changelist"),
        reverse("admin:batches_batchjob_changelist"),
        reverse("admin:index"),
    ):
        page = client.get(url).content.decode()
        assert other.name not in page, url  # no "By site" filter naming another site
        assert "Theirs" not in page, url
    # Choices of a form: only the site's stages, accounts, owners, tags.
    page = client.get(reverse("admin:opportunities_opportunity_change", args=[mine["opportunity"].pk]))
    stages = page.context["adminform"].form.fields["stage"].queryset
    assert set(stages.values_list("site_id", flat=True)) == {site.pk}
    # Autocomplete (the company, owner and tag pickers) searches only the site's records.
    for field in ("company", "owner", "tags"):
        response = client.get(
            reverse("admin:autocomplete"),
            {"app_label": "opportunities", "model_name": "opportunity", "field_name": field, "term": ""},
        )
        texts = [r["text"] for r in response.json()["results"]]
        assert texts and all("Theirs" not in t for t in texts), (field, texts)
    # Raw-id popups list the site's records only; another site's id typed in is refused.
    popup = client.get(reverse("admin:contacts_account_changelist") + "?_popup=1&_to_field=id").content.decode()
    assert "AccountMine" in popup and "AccountTheirs" not in popup
    url = reverse("admin:contacts_contact_change", args=[mine["contact"].pk])
    data = form_data(client.get(url))
    data["account"] = str(theirs["account"].pk)
    response = client.post(url, data)
    assert response.status_code == 200 and "account" in response.context["adminform"].form.errors
    assert Contact.objects.get(pk=mine["contact"].pk).account_id == mine["account"].pk


def test_superuser_form_cannot_give_an_opportunity_another_sites_stage_or_tags(two_sites):
    mine, theirs, site, other = two_sites
    client = login(superuser())
    url = reverse("admin:opportunities_opportunity_change", args=[mine["opportunity"].pk])
    data = form_data(client.get(url))
    data["stage"] = str(theirs["stage"].pk)
    data["tags"] = [str(theirs["tag"].pk)]
    response = client.post(url, data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "stage" in errors and "tags" in errors
    assert "belongs to another site" in str(errors["stage"])
    assert Opportunity.objects.get(pk=mine["opportunity"].pk).stage.site_id == site.pk


def test_saving_an_opportunity_unchanged_works(two_sites):
    mine, *_ = two_sites
    Opportunity.objects.filter(pk=mine["opportunity"].pk).update(custom_fields={})
    client = login(superuser())
    url = reverse("admin:opportunities_opportunity_change", args=[mine["opportunity"].pk])
    response = client.post(url, form_data(client.get(url)))
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Opportunity.objects.get(pk=mine["opportunity"].pk).custom_fields == {}


def test_staff_duplicate_external_id_is_a_form_error_not_a_500(two_sites):
    mine, _, site, _ = two_sites
    staff = staff_user(site)
    client = login(staff)
    url = reverse("admin:opportunities_opportunity_add")
    data = form_data(client.get(url))
    data.update(external_id=mine["opportunity"].external_id, name="Dup", stage=str(mine["stage"].pk))
    response = client.post(url, data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["__all__"] and "opportunity_site_external_id_unique" in str(errors), errors
    assert Opportunity.objects.filter(site=site, external_id=mine["opportunity"].external_id).count() == 1


@pytest.mark.parametrize(
    "model",
    [
        "syncs/sync",
        "syncs/synclog",
        "syncs/reject",
        "bulkapi/stagedupload",
        "batches/batchjob",
        "linkage/opportunitycontact",
    ],
)
def test_pipeline_records_are_read_only_even_for_a_superuser(two_sites, model):
    client = login(superuser())
    record = apps.get_model(*model.split("/")).objects.order_by("pk").first()
    assert record is not None
    before = model_to_dict(record)
    assert client.get(f"/admin/{model}/add/").status_code == 403
    assert client.post(f"/admin/{model}/add/", {}).status_code == 403
    assert client.get(f"/admin/{model}/").status_code == 200
    # viewable, but not changed or deleted: not one by one, not in bulk
    page = client.get(f"/admin/{model}/{record.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.post(f"/admin/{model}/{record.pk}/change/", form_data(page)).status_code == 403
    assert client.get(f"/admin/{model}/{record.pk}/delete/").status_code == 403
    assert client.post(f"/admin/{model}/{record.pk}/delete/", {"post": "yes"}).status_code == 403
    listing = client.get(f"/admin/{model}/")
    assert "delete_selected" not in listing.content.decode()
    client.post(f"/admin/{model}/", {"action": "delete_selected", "_selected_action": [record.pk], "post": "yes"})
    record.refresh_from_db()
    assert model_to_dict(record) == before


def test_definition_saved_in_admin_is_validated_like_the_api(site):
    staff = staff_user(site)
    client = login(staff)
    url = reverse("admin:bulkapi_importdefinition_add")
    data = form_data(client.get(url))
    data.update(
        entity="opportunity",
        name="From admin",
        fields='{"Id": "{{Opportunity.Id}}", "Name": "{{Opportunity.Field(Name)}}", "Amount": "{{Opportunity.Field(Amont)}}", "Stage": "{{Opportunity.Field(Stage)}}"}',
        identifier_field_name="Id",
    )
    response = client.post(url, data)
    assert response.status_code == 200
    assert "Unknown opportunity field statement." in str(response.context["adminform"].form.errors)
    assert not ImportDefinition.objects.filter(name="From admin").exists()
    data["fields"] = data["fields"].replace("Amont", "Amount")
    assert client.post(url, data).status_code == 302
    definition = ImportDefinition.objects.get(name="From admin")
    assert definition.site == site and definition.created_by == staff.username
    assert definition.fields[2] == ["Amount", "{{Opportunity.Field(Amount)}}"]  # key order kept, as pairs


def test_deleting_a_definition_with_a_running_sync_is_refused_with_a_message(two_sites):
    mine, _, site, _ = two_sites
    definition = mine["definition"]
    from tests.pipeline.helpers import stage

    stage(definition, [{"OpportunityID": "Z-1", "OpportunityName": "z", "Amount": "1", "Stage": "Prospecting"}])
    running = SyncFactory(site=site, definition=definition, status="active")
    client = login(staff_user(site))
    response = client.post(
        reverse("admin:bulkapi_importdefinition_delete", args=[definition.pk]), {"post": "yes"}, follow=True
    )
    assert response.status_code == 200
    assert "was not deleted" in response.content.decode()
    assert ImportDefinition.objects.filter(pk=definition.pk).exists()
    # Nor changed: the form says why and the definition stays as the sync reads it.
    change = reverse("admin:bulkapi_importdefinition_change", args=[definition.pk])
    data = form_data(client.get(change))
    data["name"] = "Renamed mid-sync"
    response = client.post(change, data)
    assert response.status_code == 200
    assert "A sync of this import is pending or active." in str(response.context["adminform"].form.errors)
    assert ImportDefinition.objects.get(pk=definition.pk).name != "Renamed mid-sync"
    # The bulk action too: refused for that one, nothing orphaned.
    response = client.post(
        reverse("admin:bulkapi_importdefinition_changelist"),
        {"action": "delete_selected", "_selected_action": [definition.pk], "post": "yes"},
        follow=True,
    )
    assert "Not deleted" in response.content.decode()
    assert ImportDefinition.objects.filter(pk=definition.pk).exists()
    # Once the sync has ended, deleting works and takes the staged rows along.
    Sync.objects.filter(pk=running.pk).update(status="success")
    response = client.post(reverse("admin:bulkapi_importdefinition_delete", args=[definition.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not ImportDefinition.objects.filter(pk=definition.pk).exists()
    from pipeline.models import StagedRow

    assert not StagedRow.objects.filter(definition_id=definition.pk).exists()


def test_createsite_staff_user_can_work_out_of_the_box(db, currencies):
    call_command("createsite", "Demo", "--user", "demo", "--password", "demo-password", "--staff")
    call_command("createsite", "Demo", "--user", "demo", "--password", "demo-password", "--staff")  # idempotent
    user = User.objects.get(username="demo")
    client = Client()
    assert client.post("/admin/login/", {"username": "Demo\\demo", "password": "demo-password"}).status_code == 302
    index = client.get("/admin/").content.decode()
    assert "have permission to view or edit anything" not in index
    for url in (
        "/admin/opportunities/opportunity/",
        "/admin/bulkapi/importdefinition/",
        "/admin/syncs/sync/",
        "/admin/opportunities/opportunity/add/",
        reverse("admin:backoffice_import"),
    ):
        assert client.get(url).status_code == 200, url
    assert user.groups.count() == 1


def test_login_page_says_how_to_write_the_user_name_and_takes_a_plain_unambiguous_one(site):
    UserFactory(site=site, username="alice", password="pw-alice", is_staff=True)
    page = Client().get("/admin/login/").content.decode()
    assert "Site\\user" in page
    assert Client().post("/admin/login/", {"username": "alice", "password": "pw-alice"}).status_code == 302
    assert Client().post("/admin/login/", {"username": "ALICE", "password": "pw-alice"}).status_code == 302
    # Ambiguous once another site has an "alice": then only Site\alice works.
    UserFactory(site=SiteFactory(), username="Alice", password="pw-other", is_staff=True)
    response = Client().post("/admin/login/", {"username": "alice", "password": "pw-alice"})
    assert response.status_code == 200 and "Site\\user" in response.content.decode()
    assert (
        Client().post("/admin/login/", {"username": f"{site.name}\\alice", "password": "pw-alice"}).status_code == 302
    )


def test_staff_cannot_change_global_currencies(site):
    client = login(staff_user(site))
    assert client.get("/admin/bulkapi/currency/").status_code == 200
    assert client.get("/admin/bulkapi/currency/add/").status_code == 403


def test_stage_of_a_staff_user_is_created_in_their_site_with_unique_names_checked(site):
    client = login(staff_user(site))
    url = reverse("admin:opportunities_stage_add")
    data = form_data(client.get(url))
    data.update(name="prospecting", probability="0.1", status="open", sort_order="1")
    response = client.post(url, data)
    assert response.status_code == 200 and response.context["adminform"].form.errors  # exists (any case)
    data["name"] = "Brand new"
    assert client.post(url, data).status_code == 302
    assert Stage.objects.get(name="Brand new").site == site


# ------------------------------------------------------------------ lookups of another site's ids


def test_raw_id_field_never_labels_another_sites_record(two_sites):
    # given staff of site A, and site B's account
    mine, theirs, site, _ = two_sites
    client = login(staff_user(site))
    add = reverse("admin:contacts_contact_add")
    # when they open the contact add form with site B's account as its initial value
    page = client.get(f"{add}?account={theirs['account'].pk}").content.decode()
    # then the raw-id box shows no label (nor link) for it, and the form does not carry it
    assert "AccountTheirs" not in page
    assert f'value="{theirs["account"].pk}"' not in page
    # nor when the form is posted with it (the error page re-renders the box)
    data = form_data(client.get(add))
    data.update(email="new@example.com", account=str(theirs["account"].pk))
    response = client.post(add, data)
    assert response.status_code == 200 and "account" in response.context["adminform"].form.errors
    assert "AccountTheirs" not in response.content.decode()
    assert not Contact.objects.filter(email="new@example.com").exists()
    # while their own account is labelled as before
    page = client.get(f"{add}?account={mine['account'].pk}").content.decode()
    assert "AccountMine" in page


def test_add_form_initial_values_keep_only_the_users_own_sites_records(two_sites):
    mine, theirs, site, _ = two_sites
    client = login(staff_user(site))
    add = reverse("admin:opportunities_opportunity_add")
    query = {"stage": theirs["stage"].pk, "company": theirs["account"].pk, "tags": theirs["tag"].pk, "name": "Kept"}
    initial = client.get(add, query).context["adminform"].form.initial
    assert initial == {"name": "Kept"}
    query = {"stage": mine["stage"].pk, "company": mine["account"].pk, "tags": f"{mine['tag'].pk}"}
    initial = client.get(add, query).context["adminform"].form.initial
    assert initial["stage"] == str(mine["stage"].pk) and initial["tags"] == [str(mine["tag"].pk)]


def test_delete_never_names_changes_or_deletes_another_sites_records(two_sites):
    # given records of site B that (through a broken link) name site A's stage, tag and account
    mine, theirs, site, _ = two_sites
    Opportunity.objects.filter(pk=theirs["opportunity"].pk).update(stage=mine["stage"], company=mine["account"])
    theirs["opportunity"].tags.add(mine["tag"])
    client = login(staff_user(site))
    for obj, name in ((mine["stage"], "stage"), (mine["tag"], "tag"), (mine["account"], "account")):
        url = reverse(f"admin:{obj._meta.app_label}_{name}_delete", args=[obj.pk])
        # when site A's staff open the delete confirmation of their own record, and confirm it
        page = client.get(url).content.decode()
        response = client.post(url, {"post": "yes"})
        # then the page names none of site B's records, says why, and nothing is deleted or unlinked
        assert "DealTheirs" not in page and "Theirs" not in page, name
        assert "Records of another site (" in page and "only a superuser can delete it" in page, name
        assert response.status_code == 200 and "Theirs" not in response.content.decode(), name
        assert type(obj).objects.filter(pk=obj.pk).exists(), name
    changelist = reverse("admin:opportunities_tag_changelist")
    client.post(changelist, {"action": "delete_selected", "_selected_action": [mine["tag"].pk], "post": "yes"})
    theirs_opp = Opportunity.objects.get(pk=theirs["opportunity"].pk)
    assert theirs_opp.company_id == mine["account"].pk and mine["tag"] in theirs_opp.tags.all()
    # A record no other site's row names is deleted as before.
    url = reverse("admin:opportunities_pipeline_delete", args=[mine["pipeline"].pk])
    assert client.post(url, {"post": "yes"}).status_code == 302
    # A superuser sees the whole cascade, as Django shows it.
    page = login(superuser()).get(reverse("admin:opportunities_stage_delete", args=[mine["stage"].pk]))
    assert "DealTheirs" in page.content.decode()


def test_list_filter_on_a_related_value_lists_only_the_users_own_sites_values(two_sites):
    from django.contrib import admin as django_admin
    from django.test import RequestFactory

    from doors.admin.registry.kernel import SiteScopedAdmin

    _, _, site, _ = two_sites
    # given an admin filtering on a related table's free values ("By company name")
    model_admin = type("ByCompanyName", (SiteScopedAdmin,), {"list_filter": ("company__name",)})(
        Opportunity, django_admin.site
    )
    request = RequestFactory().get("/")
    request.user = staff_user(site)
    # when site A's staff open the list
    changelist = model_admin.get_changelist_instance(request)
    # then the filter offers site A's company names only
    [spec] = changelist.filter_specs
    assert set(spec.lookup_choices) - {None} == {"AccountMine"}


def test_a_broken_link_to_another_sites_record_shows_empty_not_its_name(two_sites):
    # given site A's records that (by a bug or a hand-written UPDATE) name site B's records
    mine, theirs, site, _ = two_sites
    Contact.objects.filter(pk=mine["contact"].pk).update(account=theirs["account"])
    Sync.objects.filter(pk=mine["sync"].pk).update(definition=theirs["definition"])
    client = login(staff_user(site))
    # when site A's staff look at the lists, the pages and the dashboard showing them
    pages = {
        "contact list": client.get(reverse("admin:contacts_contact_changelist")),
        "contact page": client.get(reverse("admin:contacts_contact_change", args=[mine["contact"].pk])),
        "sync list": client.get(reverse("admin:syncs_sync_changelist")),
        "sync page": client.get(reverse("admin:syncs_sync_change", args=[mine["sync"].pk])),
        "dashboard": client.get(reverse("admin:index")),
        "rejects CSV": client.get(reverse("admin:syncs_sync_rejects_csv", args=[mine["sync"].pk])),
    }
    # then none names site B's account or definition (nor the definition's columns)
    for name, response in pages.items():
        assert response.status_code == 200, name
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert b"Theirs" not in body, name
    # while a superuser still sees where the broken links point
    page = login(superuser()).get(reverse("admin:contacts_contact_changelist")).content.decode()
    assert "AccountTheirs" in page


def test_view_on_site_answers_only_for_the_users_own_records(two_sites):
    from django.contrib.contenttypes.models import ContentType
    from oauth2_provider.models import Application

    mine, theirs, site, other = two_sites
    client = login(staff_user(site))
    stage_type = ContentType.objects.get_for_model(Stage)
    assert client.get(f"/admin/r/{stage_type.pk}/{theirs['stage'].pk}/").status_code == 404
    assert client.get("/admin/r/x/1/").status_code == 404
    # A record whose own page is not routed here is a 404 for a superuser too, not a 500.
    app = Application.objects.create(
        name="AppTheirs", user=theirs["user"], client_type="confidential", authorization_grant_type="password"
    )
    app_type = ContentType.objects.get_for_model(Application)
    assert login(superuser()).get(f"/admin/r/{app_type.pk}/{app.pk}/").status_code == 404


def test_oauth_clients_and_tokens_are_for_superusers_only(two_sites):
    from django.contrib.auth.models import Permission
    from oauth2_provider.models import Application

    _, theirs, site, _ = two_sites
    app = Application.objects.create(
        name="AppTheirs", user=theirs["user"], client_type="confidential", authorization_grant_type="password"
    )
    # given a staff user granted every permission, django-oauth-toolkit's included
    staff = staff_user(site)
    staff.user_permissions.set(Permission.objects.all())
    client = login(staff)
    for url in (
        "/admin/oauth2_provider/application/",
        f"/admin/oauth2_provider/application/{app.pk}/change/",
        f"/admin/oauth2_provider/application/add/?user={theirs['user'].pk}",
        "/admin/oauth2_provider/accesstoken/",
        "/admin/oauth2_provider/refreshtoken/",
        "/admin/oauth2_provider/grant/",
        "/admin/oauth2_provider/idtoken/",
    ):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "AppTheirs" not in response.content.decode() and "Theirs" not in response.content.decode(), url
    assert "oauth2_provider" not in client.get("/admin/").content.decode()
    # A superuser manages them, without a "View on site" link to a page this server does not have.
    page = login(superuser()).get(f"/admin/oauth2_provider/application/{app.pk}/change/")
    assert page.status_code == 200 and "AppTheirs" in page.content.decode()
    assert "/admin/r/" not in page.content.decode()


# ------------------------------------------------------------------------------------ API tokens


def test_staff_issue_see_and_revoke_only_their_own_api_tokens(two_sites):
    from kernel.models import ApiToken
    from tests.factories import TokenFactory

    # given staff of site A, a colleague on the staff, an ordinary user, and their tokens
    mine, _, site, _ = two_sites
    staff = staff_user(site)
    colleague = staff_user(site, username="colleague")
    own = TokenFactory(user=staff, name="OwnToken")
    colleagues = TokenFactory(user=colleague, name="ColleagueToken")
    ordinary = ApiToken.objects.get(user=mine["user"])
    client = login(staff)
    add = reverse("admin:bulkapi_apitoken_add")
    # then the add form offers only themselves
    form = client.get(add).context["adminform"].form
    assert list(form.fields["user"].queryset) == [staff]
    assert form.initial["user"] == staff.pk
    # and a token for anyone else is refused, the colleague above all
    for target in (colleague, mine["user"]):
        response = client.post(add, {"user": target.pk, "name": "Sneaky", "_save": "Save"})
        assert response.status_code == 200 and "user" in response.context["adminform"].form.errors
    assert not ApiToken.objects.filter(name="Sneaky").exists()
    # while their own is issued
    response = client.post(add, {"user": staff.pk, "name": "Mine again", "_save": "Save"})
    assert response.status_code == 302
    assert ApiToken.objects.get(name="Mine again").user == staff
    # the list shows only their own tokens; others' pages are not found
    page = client.get(reverse("admin:bulkapi_apitoken_changelist")).content.decode()
    assert "OwnToken" in page and "ColleagueToken" not in page and ordinary.prefix not in page
    for token in (colleagues, ordinary):
        response = client.get(reverse("admin:bulkapi_apitoken_change", args=[token.pk]))
        assert response.status_code == 302  # "doesn't exist", back to the index
    # and revoking reaches only their own
    changelist = reverse("admin:bulkapi_apitoken_changelist")
    client.post(changelist, {"action": "revoke", "_selected_action": [own.pk, colleagues.pk, ordinary.pk]})
    revoked = set(ApiToken.objects.filter(revoked_at__isnull=False).values_list("pk", flat=True))
    assert revoked == {own.pk}


def test_superuser_issues_and_revokes_any_users_api_token(two_sites):
    from kernel.models import ApiToken

    mine, theirs, site, _ = two_sites
    colleague = staff_user(site, username="colleague")
    client = login(superuser())
    add = reverse("admin:bulkapi_apitoken_add")
    for target in (colleague, theirs["user"]):
        response = client.post(add, {"user": target.pk, "name": f"For {target.username}", "_save": "Save"})
        assert response.status_code == 302
        assert ApiToken.objects.get(name=f"For {target.username}").user == target
    token = ApiToken.objects.get(user=theirs["user"], name="TokenTheirs")
    client.post(reverse("admin:bulkapi_apitoken_changelist"), {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_token_service_refuses_a_staff_user_issuing_or_revoking_anothers_token(two_sites):
    from django.core.exceptions import PermissionDenied

    from kernel.models import ApiToken
    from kernel.services import api_token_create, api_token_revoke

    mine, _, site, _ = two_sites
    staff = staff_user(site)
    with pytest.raises(PermissionDenied):
        api_token_create(user=mine["user"], by=staff)
    with pytest.raises(PermissionDenied):
        api_token_revoke(token=ApiToken.objects.get(user=mine["user"]), by=staff)
    assert ApiToken.objects.filter(user=mine["user"], revoked_at__isnull=True).count() == 1
    token, _, created = api_token_create(user=staff, by=staff)
    assert created and token.user == staff
    _, _, created = api_token_create(user=mine["user"])  # an operator's command (createsite)
    assert created
