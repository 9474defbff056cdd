"""Tenancy of every admin, generated from the admin registry: a staff user of site A who types site
B's primary keys into any URL parameter or form field sees none of site B's data and changes none
of it.

The cases come from `admin.site._registry`, so a newly registered admin is covered without touching
this file. The staff user holds EVERY model permission (as an over-generous superuser might grant):
tenancy must not depend on which permissions a staff user happens to lack. Site B's data is
recognised by the word "Theirs" (every name, email, message and file name of site B carries it) and
by the `str()` of each of its records. Cross-site links a bug or a hand-written UPDATE could leave
behind (site B's opportunity on site A's stage, site A's contact link naming site B's contact, ...)
must not leak either: not through site A's lists, read-only fields and widgets, nor through a
delete confirmation, and no delete may change site B's rows through them.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils.html import escape

from doors.admin.services import import_draft_create
from entities.contacts.models import Contact
from entities.linkage.models import OpportunityContact
from entities.opportunities.models import Opportunity, Stage
from kernel.models import Site
from pipeline.models import Reject, Sync, SyncLog
from tests.doors.admin.helpers import form_data, populate, staff_user, superuser
from tests.doors.batch.helpers import csv_file
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db

MARK = "Theirs"  # in every name, email, message and file name of site B
SEARCH = "heir"  # a search term matching site B's records that is not itself their mark
REGISTERED = sorted(admin.site._registry, key=lambda model: model._meta.label)


# ------------------------------------------------------------------------------- the two sites


def site_path(model) -> str | None:
    """How a row of `model` reaches its site (test-side, independent of the code under test)."""
    if model is Site:
        return "pk"
    if getattr(model, "site_path", None):
        return model.site_path
    fields = {f.name: f for f in model._meta.get_fields() if f.concrete}
    if "site" in fields and fields["site"].related_model is Site:
        return "site"
    model_admin = admin.site._registry.get(model)
    if getattr(model_admin, "site_field", "pk") != "pk":
        return model_admin.site_field
    for field in fields.values():  # one hop: a token's user, a staged row's definition, a link table
        if field.many_to_one or field.one_to_one:
            hop = site_path(field.related_model) if field.related_model is not model else None
            if hop is not None:
                return field.name if hop == "pk" else f"{field.name}__{hop}"
    return None


def rows_of(model, site_id: int):
    path = site_path(model)
    return None if path is None else model._base_manager.filter(**{path: site_id})


def snapshot(site_id: int) -> dict:
    """Every row of the site, in every table that reaches it (link tables and child rows included)."""
    out = {}
    for model in apps.get_models(include_auto_created=True):
        rows = rows_of(model, site_id)
        if rows is not None:
            out[model._meta.label] = sorted(repr(sorted(r.items())) for r in rows.values())
    return out


def their_texts(other: Site) -> set[str]:
    """What site B's records look like on a page: each one's str() (when no other site's record
    looks the same), and their tokens, uuids and prefixes."""
    theirs, others = set(), set()
    for model in apps.get_models():
        path = site_path(model)
        if path is None:
            continue
        for obj in model._base_manager.filter(**{path: other.pk}).iterator():
            theirs.add(str(obj))
            for name in ("uuid", "prefix"):
                if getattr(obj, name, None):
                    theirs.add(str(getattr(obj, name)))
        for obj in model._base_manager.exclude(**{path: other.pk}).iterator():
            others.add(str(obj))
    return {t for t in theirs - others if len(t) >= 4}


def mark_theirs(other: Site) -> None:
    """Make every one of site B's records recognisable (stage names, logs, rejects, files)."""
    for stage in Stage.objects.filter(site=other):
        Stage.objects.filter(pk=stage.pk).update(name=f"{stage.name} {MARK}")
    SyncLog.objects.filter(sync__site=other).update(message=f"Log of {MARK}")
    Reject.objects.filter(sync__site=other).update(message=f"Reject of {MARK}")
    Sync.objects.filter(site=other).update(created_by=f"api{MARK}")
    other.batch_jobs.update(uploaded_file_name=f"{MARK}.csv", created_by=f"api{MARK}")


@pytest.fixture
def world(site):
    other = SiteFactory(name=f"Acme{MARK}")
    mine, theirs = populate(site, "Mine"), populate(other, MARK)
    mark_theirs(other)
    theirs["draft"] = import_draft_create(
        site=other, user=theirs["user"], entity="opportunity", keys=None, upload=csv_file(f"Col{MARK}\r\nv\r\n")
    )
    # Links across the two sites, as a bug or a hand-written UPDATE could leave them. From site B
    # to site A: B's opportunity on A's stage, tag and account; B's contact in A's account.
    Opportunity.objects.filter(pk=theirs["opportunity"].pk).update(stage=mine["stage"], company=mine["account"])
    theirs["opportunity"].tags.add(mine["tag"])
    Contact.objects.filter(pk=theirs["contact"].pk).update(account=mine["account"])
    # From site A to site B: A's opportunity with B's owner and tag, A's stage in B's pipeline, A's
    # default stage, A's sync of B's definition retrying B's sync, A's link to B's contact.
    Opportunity.objects.filter(pk=mine["opportunity"].pk).update(owner=theirs["owner"])
    mine["opportunity"].tags.add(theirs["tag"])
    Stage.objects.filter(pk=mine["stage"].pk).update(pipeline=theirs["pipeline"])
    Site.objects.filter(pk=site.pk).update(default_stage=Stage.objects.filter(site=other).first())
    Sync.objects.filter(pk=mine["sync"].pk).update(definition=theirs["definition"], retry_of=theirs["sync"])
    OpportunityContact.objects.filter(site=site).update(contact=theirs["contact"])
    # History: a superuser changed each of site B's records.
    root = superuser()
    for model in REGISTERED:
        rows = rows_of(model, other.pk)
        if rows is not None and rows.exists():
            LogEntry.objects.log_actions(
                user_id=root.pk, queryset=list(rows[:3]), action_flag=CHANGE, change_message=f"Changed {MARK}."
            )
    staff = staff_user(site)
    staff.user_permissions.set(Permission.objects.all())
    return {"site": site, "other": other, "mine": mine, "theirs": theirs, "staff": staff}


# ------------------------------------------------------------------------------------ probing


class Probe:
    """A staff client of site A that records every answer showing site B's data, or failing."""

    def __init__(self, world):
        self.client = Client()
        self.client.force_login(world["staff"])
        self.texts = their_texts(world["other"])
        self.patterns = [re.compile(rf"(?<![\w]){re.escape(t)}(?![\w])") for t in self.texts]
        self.problems: list[str] = []

    def __call__(self, method: str, url: str, data=None, follow: bool = True):
        response = getattr(self.client, method)(url, data or {}, follow=follow)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        text = body.decode("utf-8", "replace")
        if response.status_code >= 500:
            self.problems.append(f"{method.upper()} {url} {data or ''} -> {response.status_code}")
        seen = [MARK] if MARK in text else []
        seen += [t for t, p in zip(self.texts, self.patterns, strict=True) if p.search(text) or escape(t) in text]
        if seen:
            self.problems.append(f"{method.upper()} {url} {data or ''} shows site B's {sorted(seen)[:5]}")
        return response


def relations(model) -> list:
    """Foreign keys, one-to-ones and many-to-manys of `model` to models that belong to a site."""
    fields = [f for f in model._meta.get_fields() if f.concrete and f.is_relation and not f.auto_created]
    return [f for f in fields if site_path(f.related_model) is not None]


def pks(model, site_id: int, n: int = 2) -> list[str]:
    rows = rows_of(model, site_id)
    return [] if rows is None else [str(pk) for pk in rows.order_by("pk").values_list("pk", flat=True)[:n]]


def url(model, name: str, *args) -> str | None:
    try:
        return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{name}", args=args)
    except NoReverseMatch:
        return None


def with_b_values(data: dict, form, model, other_id: int) -> dict:
    """The rendered form's body with every relation field set to site B's records."""
    data = dict(data)
    for field in relations(model):
        if field.name not in form.fields:
            continue
        theirs = pks(field.related_model, other_id)
        if theirs:
            data[field.name] = theirs if field.many_to_many else theirs[0]
    return data


def probe_model(probe: Probe, model, world) -> None:
    site, other = world["site"], world["other"]
    model_admin = admin.site._registry[model]
    theirs = pks(model, other.pk)
    mine = pks(model, site.pk, 1)
    changelist, add = url(model, "changelist"), url(model, "add")

    # Site B's records by primary key: change (shown and posted), delete, history, view on site.
    mine_form = None
    if mine:
        page = probe("get", url(model, "change", mine[0]))
        if page.context and "adminform" in page.context:
            mine_form = page
    content_type = ContentType.objects.get_for_model(model)
    for pk in theirs:
        for query in ("", "?_popup=1&_to_field=id", "?" + urlencode({"_changelist_filters": f"pk={pk}"})):
            probe("get", url(model, "change", pk) + query)
        probe("post", url(model, "change", pk), form_data(mine_form) if mine_form else {"_save": "Save"})
        probe("get", url(model, "delete", pk))
        probe("post", url(model, "delete", pk), {"post": "yes"})
        probe("get", url(model, "history", pk))
        probe("get", reverse("admin:view_on_site", args=[content_type.pk, pk]))

    # Changelist filters naming site B's records (this model's, and each related model's).
    queries = [{"q": SEARCH}, {"_popup": "1", "_to_field": "id"}]
    for pk in theirs:
        queries += [{"pk": pk}, {"id__exact": pk}, {"pk__in": ",".join(theirs)}, {"_popup": "1", "pk": pk}]
    for field in relations(model):
        for pk in pks(field.related_model, other.pk, 1):
            queries += [
                {f"{field.name}__id__exact": pk},
                {f"{field.name}__pk__exact": pk},
                {field.name: pk},
                {f"{field.name}__exact": pk},
                {f"{field.name}__id__in": pk},
                {f"{field.name}__isnull": "False", "_popup": "1", "_to_field": "id"},
            ]
    for query in queries:
        probe("get", f"{changelist}?{urlencode(query)}")

    # The add form with site B's records as initial values (one at a time, and all together), as
    # "add another" popups, and from preserved changelist filters.
    initial = {}
    for field in relations(model):
        theirs_related = pks(field.related_model, other.pk)
        if theirs_related:
            initial[field.name] = ",".join(theirs_related) if field.many_to_many else theirs_related[0]
            probe("get", f"{add}?{urlencode({field.name: initial[field.name]})}")
    probe("get", f"{add}?{urlencode(initial)}")
    probe("get", f"{add}?{urlencode({**initial, '_popup': '1', '_to_field': 'id'})}")
    probe("get", f"{add}?{urlencode({'_changelist_filters': urlencode(initial)})}")

    # Forms posted with site B's records in every relation field: nothing saved that links them.
    add_page = probe("get", add)
    if add_page.status_code == 200 and add_page.context and "adminform" in add_page.context:
        form = add_page.context["adminform"].form
        probe("post", add, with_b_values(form_data(add_page), form, model, other.pk))
        probe("post", f"{add}?_popup=1", with_b_values(form_data(add_page), form, model, other.pk))
    if mine_form is not None and mine_form.context.get("has_change_permission"):
        form = mine_form.context["adminform"].form
        probe("post", url(model, "change", mine[0]), with_b_values(form_data(mine_form), form, model, other.pk))

    # Pickers: autocomplete of each relation field, and raw-id popups (the related changelist).
    for field in relations(model):
        for term in ("", SEARCH):
            response = probe(
                "get",
                reverse("admin:autocomplete")
                + "?"
                + urlencode(
                    {
                        "app_label": model._meta.app_label,
                        "model_name": model._meta.model_name,
                        "field_name": field.name,
                        "term": term,
                    }
                ),
            )
            if response.status_code == 200:
                ids = {r["id"] for r in response.json()["results"]}
                if ids & set(pks(field.related_model, other.pk, 10**6)):
                    probe.problems.append(f"autocomplete of {model._meta.label}.{field.name} offers site B's records")
        related_changelist = url(field.related_model, "changelist")
        if related_changelist:
            probe("get", f"{related_changelist}?_popup=1&_to_field=id")

    # Actions on site B's records (the confirmation page, then confirmed).
    request = type("R", (), {"user": world["staff"], "GET": {}, "POST": {}, "method": "GET"})()
    for action in model_admin.get_actions(request):
        if theirs:
            body = {"action": action, "_selected_action": theirs, "index": "0"}
            probe("post", changelist, body)
            probe("post", changelist, {**body, "post": "yes"})


@pytest.mark.parametrize("model", REGISTERED, ids=[m._meta.label for m in REGISTERED])
def test_staff_of_one_site_never_sees_or_changes_another_sites_records(world, model):
    # given two sites, with site B's records in every table, and a staff user of site A
    probe = Probe(world)
    before = snapshot(world["other"].pk)
    # when they try site B's primary keys in every URL parameter and form field of this admin
    probe_model(probe, model, world)
    # and then delete site A's own records (whose cascade reaches site B through the cross links)
    for pk in pks(model, world["site"].pk, 1):
        probe("get", url(model, "delete", pk))
        probe("post", url(model, "delete", pk), {"post": "yes"})
        probe("post", url(model, "changelist"), {"action": "delete_selected", "_selected_action": [pk], "post": "yes"})
    # then no page showed site B's data, none failed, and nothing of site B changed
    assert not probe.problems, "\n".join(probe.problems)
    assert snapshot(world["other"].pk) == before


def test_every_registered_admin_is_covered_and_reaches_a_site():
    """The matrix above runs once per registered admin; each model it probes must reach a site
    (or be a global table such as currencies and groups), or its rows could not be told apart."""
    global_models = {"bulkapi.Currency", "auth.Group"}
    for model in REGISTERED:
        assert model._meta.label in global_models or site_path(model) is not None, model
