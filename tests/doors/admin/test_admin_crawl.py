"""Every admin page and form, as a site's staff user and as a superuser: none may answer 5xx.

Each registered model's changelist (plain, searched), add form (shown, and posted as rendered),
change form (shown, and saved unchanged), delete confirmation and history; plus the dashboard and
the back office's own pages and downloads."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from tests.doors.admin.helpers import form_data, populate, staff_user, superuser
from tests.doors.batch.helpers import csv_file
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(site):
    other = SiteFactory()
    return {"mine": populate(site, "Mine"), "theirs": populate(other, "Theirs"), "site": site, "other": other}


def _check(client, method, url, data=None, failures=None):
    response = getattr(client, method)(url, data) if data is not None else getattr(client, method)(url)
    if response.status_code >= 500:
        failures.append(f"{method.upper()} {url} -> {response.status_code}")
    return response


def crawl(client, user) -> tuple[list[str], dict]:
    failures: list[str] = []
    saved: dict = {}
    _check(client, "get", "/admin/", failures=failures)
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        changelist = reverse("admin:{}_{}_changelist".format(*info))
        _check(client, "get", changelist, failures=failures)
        _check(client, "get", changelist + "?q=a", failures=failures)
        add = _check(client, "get", reverse("admin:{}_{}_add".format(*info)), failures=failures)
        if add.status_code == 200 and add.context and "adminform" in add.context:
            _check(client, "post", reverse("admin:{}_{}_add".format(*info)), form_data(add), failures)
        request = type("R", (), {"user": user})()
        obj = model_admin.get_queryset(request).order_by("pk").first()
        if obj is None:
            continue
        change_url = reverse("admin:{}_{}_change".format(*info), args=[obj.pk])
        change = _check(client, "get", change_url, failures=failures)
        if change.status_code == 200 and change.context and change.context.get("has_change_permission"):
            result = _check(client, "post", change_url, form_data(change), failures)
            saved[model._meta.label] = result.status_code
        _check(client, "get", reverse("admin:{}_{}_delete".format(*info), args=[obj.pk]), failures=failures)
        _check(client, "get", reverse("admin:{}_{}_history".format(*info), args=[obj.pk]), failures=failures)
    return failures, saved


def back_office_pages(client, world) -> list[str]:
    failures: list[str] = []
    sync, job, definition = world["mine"]["sync"], world["mine"]["job"], world["mine"]["definition"]
    for url in (
        reverse("admin:syncs_sync_change", args=[sync.pk]) + "?after=1",
        reverse("admin:syncs_sync_rejects_csv", args=[sync.pk]),
        reverse("admin:syncs_sync_progress") + f"?ids={sync.pk},x,{10**30}",
        reverse("admin:batches_batchjob_file", args=[job.pk, "errors"]),
        reverse("admin:batches_batchjob_file", args=[job.pk, "successes"]),
        reverse("admin:batches_batchjob_file", args=[job.pk, "other"]),
        reverse("admin:backoffice_import") + f"?definition={definition.pk}",
        reverse("admin:backoffice_import") + "?definition=notanumber",
    ):
        response = _check(client, "get", url, failures=failures)
        if getattr(response, "streaming", False):
            b"".join(response.streaming_content)
    for url in (reverse("admin:syncs_sync_cancel", args=[sync.pk]), reverse("admin:syncs_sync_retry", args=[sync.pk])):
        _check(client, "get", url, failures=failures)  # POST only: 405
        _check(client, "post", url, {}, failures)  # the sync has ended: a message, not an error
    # The whole import flow, existing definition and new one from the header.
    text = "OpportunityID,OpportunityName,Amount,Stage\r\nB-1,One,1,Prospecting\r\nB-2,Two,x,Prospecting\r\n"
    start = reverse("admin:backoffice_import")
    response = _check(client, "post", start, {"definition": definition.pk, "file": csv_file(text)}, failures)
    if response.status_code == 302:
        review = _check(client, "get", response["Location"], failures=failures)
        assert review.status_code == 200
    response = _check(
        client, "post", start, {"entity": "opportunity", "file": csv_file(text), "site": world["site"].pk}, failures
    )
    if response.status_code == 302:
        _check(client, "get", response["Location"], failures=failures)
        _check(client, "post", response["Location"], {"action": "preview", "name": "", "identifier": "nope"}, failures)
    _check(client, "post", start, {"file": csv_file(b"\xff\xfe,bad\r\n")}, failures)
    return failures


def test_every_admin_page_and_form_answers_without_a_server_error(world):
    for user in (staff_user(world["site"]), superuser()):
        client = Client()
        client.force_login(user)
        failures, saved = crawl(client, user)
        failures += back_office_pages(client, world)
        assert failures == [], user
        # Records people edit save unchanged (a redirect back to the list), custom fields included.
        for label in ("opportunities.Opportunity", "contacts.Account", "contacts.Contact", "opportunities.Stage"):
            assert saved.get(label) == 302, (user, label, saved)
