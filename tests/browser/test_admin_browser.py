"""The admin in a real browser against the real server and a real worker: log in as a site's staff
user, see styled pages, import a CSV with a dry run, watch its progress bar move, open and
download its rejects, cancel a running sync; and a crawl of every admin page as staff and as
superuser that fails on any 5xx."""

from __future__ import annotations

import csv
import io
import os
import time
from pathlib import Path

import pytest
from django.contrib import admin
from django.urls import reverse

from entities.opportunities.models import Opportunity
from pipeline.models import Sync
from tests.browser.conftest import SERVER_ENV, GunicornServer
from tests.doors.admin.helpers import populate, staff_user, superuser
from tests.factories import ImportDefinitionFactory, SiteFactory

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = 50_000  # with 1,000-row chunks (conftest.SERVER_ENV): a sync of a few seconds
FIELDS = [
    ["OpportunityID", "{{Opportunity.Id}}"],
    ["OpportunityName", "{{Opportunity.Field(Name)}}"],
    ["Amount", "{{Opportunity.Field(Amount)}}"],
    ["Stage", "{{Opportunity.Field(Stage)}}"],
]


def deals_csv(path: Path, prefix: str, rows: int = ROWS) -> Path:
    """Every 1,000th row (the 8th of each thousand) has a bad amount; one name is a formula."""
    lines = ["OpportunityID,OpportunityName,Amount,Stage"]
    for i in range(rows):
        amount = "lots" if i % 1000 == 7 else f"{i}.50"
        name = "=HYPERLINK(evil)" if i == 7 else f"Deal {i}"
        lines.append(f"{prefix}-{i:06d},{name},{amount},Prospecting")
    path.write_text("\r\n".join(lines) + "\r\n")
    return path


@pytest.fixture
def demo(site):
    staff = staff_user(site, username="demo", password="demo-pass")
    definition = ImportDefinitionFactory(site=site, name="Weekly deals", fields=FIELDS)
    return site, staff, definition


def log_in(page, base: str, login: str, password: str) -> None:
    page.goto(base + "/admin/login/")
    assert "Site\\user" in page.inner_text("#content")  # the page says how to write the user name
    page.fill("#id_username", login)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(base + "/admin/")


def start_import(page, base: str, definition, csv_path: Path) -> None:
    page.goto(base + "/admin/")
    page.click("text=Import a CSV file")
    page.select_option("#id_definition", str(definition.pk))
    page.set_input_files("#id_file", str(csv_path))
    page.click("#bo-upload")
    page.wait_for_selector("#bo-dry-run")


def sample_progress(page, timeout: float = 240) -> list[tuple[str, float]]:
    """(status, bar width %) as the sync page shows them, until the sync has ended."""
    seen: list[tuple[str, float]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = page.evaluate(
                """() => { const s = document.querySelector('#bo-sync-summary [data-field=status]');
                           const b = document.querySelector('#bo-sync-summary .bo-bar');
                           return s && b ? [s.textContent.trim(), parseFloat(b.style.width)] : null; }"""
            )
        except Exception:  # noqa: BLE001 - the page reloads itself when the sync ends
            state = None
        if state:
            seen.append((state[0], state[1]))
            if state[0] in ("success", "warning", "error"):
                return seen
        time.sleep(0.2)
    raise AssertionError(f"the sync did not end in time: {seen[-5:]}")


def test_staff_imports_a_csv_with_a_dry_run_and_watches_it(live_server_url, browser_worker, chromium, demo, tmp_path):
    site, staff, definition = demo
    base = live_server_url
    page = chromium.new_page()
    statics: list[tuple[str, int]] = []
    page.on("response", lambda r: statics.append((r.url, r.status)) if "/static/" in r.url else None)

    # Log in as the site's staff user (Site\user), and the pages are styled by our own server.
    log_in(page, base, f"{site.name}\\demo", "demo-pass")
    header = page.eval_on_selector("#header", "e => getComputedStyle(e).backgroundColor")
    assert header not in ("rgba(0, 0, 0, 0)", "transparent")  # admin's base.css really applied
    assert any(url.endswith("/static/admin/css/base.css") and status == 200 for url, status in statics)
    assert statics and all(status == 200 for _, status in statics), statics
    assert not any(not url.startswith(base) for url, _ in statics)  # no CDN
    assert page.locator("#bo-dashboard").is_visible()

    # Upload: a dry run of the first rows, nothing written.
    start_import(page, base, definition, deals_csv(tmp_path / "deals.csv", "W"))
    assert page.inner_text("#bo-dry-run [data-field=created]") == "19"
    assert page.inner_text("#bo-dry-run [data-field=rejected]") == "1"
    assert "ELQ-00032" in page.inner_text("#bo-dry-run tr.bo-outcome-reject")
    assert not Opportunity.objects.filter(site=site).exists()
    assert not Sync.objects.exists()

    # Confirm, then watch the progress bar move on the sync's page until it ends.
    page.click("#bo-confirm")
    page.wait_for_selector("#bo-sync-summary")
    if os.environ.get("ADMIN_SCREENSHOT"):  # docs/admin-dashboard.png: the dashboard while it runs
        shot = chromium.new_page()
        shot.goto(base + "/admin/")
        shot.wait_for_timeout(2500)
        shot.screenshot(path=os.environ["ADMIN_SCREENSHOT"])
        shot.close()
    seen = sample_progress(page)
    widths = [w for _, w in seen]
    assert any(0 < w < 100 for w in widths), seen  # the bar was seen part way
    assert widths == sorted(widths), seen  # and only ever moved forward
    assert len({w for w in widths if 0 < w < 100}) >= 2 or any(s == "active" for s, _ in seen), seen
    page.wait_for_selector("#bo-rejects table")
    sync = Sync.objects.get()
    assert sync.status == "warning" and sync.rejected == ROWS // 1000
    assert Opportunity.objects.filter(site=site).count() == ROWS - ROWS // 1000

    # Its rejects: on the page with the values and the bad field, and downloaded as CSV.
    first = page.inner_text("#bo-rejects tbody tr:first-child")
    assert "ELQ-00032" in first and "Amount" in first and "lots" in first
    with page.expect_download() as download:
        page.click("text=Download rejects (CSV)")
    table = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert table[0] == ["RecordIndex", "StatusCode", "Message", "InvalidFields", *[k for k, _ in FIELDS]]
    assert len(table) == 1 + ROWS // 1000
    assert table[1] == [
        "8",
        "ELQ-00032",
        "Malformed records.",
        "Amount",
        "W-000007",
        "'=HYPERLINK(evil)",
        "lots",
        "Prospecting",
    ]

    # The dashboard lists it among the recent syncs.
    page.goto(base + "/admin/")
    assert f"Sync {sync.pk}" in page.inner_text("#bo-dashboard")
    page.close()


def test_staff_cancels_a_running_sync(live_server_url, browser_worker, chromium, demo, tmp_path):
    site, staff, definition = demo
    base = live_server_url
    chromium.clear_cookies()
    page = chromium.new_page()
    log_in(page, base, "demo", "demo-pass")  # a plain user name: only one site has a "demo"
    start_import(page, base, definition, deals_csv(tmp_path / "more.csv", "X"))
    page.click("#bo-confirm")
    page.wait_for_selector("#bo-cancel")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#bo-cancel")
    page.wait_for_selector("text=was cancelled")
    sync = Sync.objects.get()
    assert sync.status == "error" and sync.cancelled_by == f"{site.name}\\demo"
    assert sync.processed == sync.created_count + sync.updated_count + sync.rejected == sync.total_rows == ROWS
    assert sync.rejects.filter(status_code="SRV-00101").exists()
    assert f"cancelled by {site.name.lower()}\\demo" in page.inner_text("#bo-logs").lower()
    assert page.locator("#bo-retry").is_visible()
    page.close()


def admin_urls(user) -> list[str]:
    """Every changelist, add form, change form (first visible record), delete and history page."""
    urls = ["/admin/", reverse("admin:backoffice_import")]
    request = type("R", (), {"user": user})()
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        urls += [reverse("admin:{}_{}_changelist".format(*info)), reverse("admin:{}_{}_add".format(*info))]
        obj = model_admin.get_queryset(request).order_by("pk").first()
        if obj is not None:
            for view in ("change", "delete"):
                urls.append(reverse(f"admin:{info[0]}_{info[1]}_{view}", args=[obj.pk]))
    return urls


def test_crawl_every_admin_page_on_the_real_server_as_staff_and_superuser(live_server_url, chromium, site):
    populate(site, "Mine")
    populate(SiteFactory(), "Theirs")
    staff = staff_user(site, username="crawler", password="crawl-pass")
    root = superuser(password="root-pass")
    failures = []
    pages = 0
    for user, login, password in ((staff, f"{site.name}\\crawler", "crawl-pass"), (root, "root", "root-pass")):
        chromium.clear_cookies()
        page = chromium.new_page()
        log_in(page, live_server_url, login, password)
        for url in admin_urls(user):
            response = chromium.request.get(live_server_url + url, max_redirects=0)
            pages += 1
            if response.status >= 500:
                failures.append(f"{login}: GET {url} -> {response.status}")
        page.close()
    assert pages > 100
    assert failures == []


@pytest.fixture
def own_server_url(django_db_setup, django_db_blocker):
    """A server of this test's own: saving an admin form writes a LogEntry naming a content type,
    and the module's server may hold content type ids cached before an earlier test's flush."""
    server = GunicornServer(SERVER_ENV)
    yield server.url
    server.stop()


def test_staff_see_none_of_another_sites_records_in_a_real_browser(own_server_url, chromium, site):
    """Site A's staff in Chromium: another site's ids typed into a raw-id field, a delete whose
    cascade reaches another site, their own tokens only, custom field names checked and flagged.
    With ADMIN_SECURITY_SCREENSHOTS=<dir>, each page is saved there as a PNG to look at."""
    from entities.contacts.models import Contact
    from pipeline.models import CustomField

    shots = os.environ.get("ADMIN_SECURITY_SCREENSHOTS")

    def shot(page, name: str) -> None:
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(shots) / f"{name}.png"), full_page=True)

    mine, theirs = populate(site, "Mine"), populate(SiteFactory(name="AcmeTheirs"), "Theirs")
    Opportunity.objects.filter(pk=theirs["opportunity"].pk).update(stage=mine["stage"])  # a broken cross link
    Contact.objects.filter(pk=mine["contact"].pk).update(account=theirs["account"])  # and one the other way
    CustomField.objects.create(site=site, entity="opportunity", name="Region code", internal_name="Region Code")
    staff_user(site, username="guard", password="guard-pass")
    base = own_server_url
    chromium.clear_cookies()
    page = chromium.new_page()
    log_in(page, base, f"{site.name}\\guard", "guard-pass")

    # Another site's account as the raw-id field's initial value: no label, no value.
    page.goto(f"{base}/admin/contacts/contact/add/?account={theirs['account'].pk}")
    assert "Theirs" not in page.content() and page.input_value("#id_account") == ""
    shot(page, "1-contact-add-other-sites-account")
    page.goto(f"{base}/admin/contacts/contact/add/?account={mine['account'].pk}")
    assert "AccountMine" in page.inner_text("#contact_form")
    shot(page, "2-contact-add-own-account")

    # A contact whose account (by a broken link) is another site's: "-" in the list.
    page.goto(f"{base}/admin/contacts/contact/")
    assert "Theirs" not in page.content()
    shot(page, "3-contact-list-broken-link")

    # Deleting their stage, which another site's opportunity names: refused, no name shown.
    page.goto(f"{base}/admin/opportunities/stage/{mine['stage'].pk}/delete/")
    assert "Records of another site (opportunities)" in page.inner_text("#content")
    assert "Theirs" not in page.content()
    shot(page, "4-stage-delete-refused")

    # API tokens: the add form offers only themselves; the list shows only their own.
    page.goto(f"{base}/admin/bulkapi/apitoken/add/")
    options = page.eval_on_selector_all("#id_user option", "os => os.map(o => o.textContent.trim())")
    assert options[-1:] == [f"{site.name}\\guard"] and len([o for o in options if "\\" in o]) == 1, options
    shot(page, "5-token-add-own-user-only")
    page.click("input[name=_save]")
    page.wait_for_selector("text=Copy it now")
    shot(page, "6-token-list-own-only")
    assert "TokenMine" not in page.content()

    # Custom fields: the stored bad name is flagged; a new one with a space is refused.
    page.goto(f"{base}/admin/bulkapi/customfield/")
    assert "Not importable" in page.inner_text("#result_list")
    shot(page, "7-custom-field-list-flagged")
    page.goto(f"{base}/admin/bulkapi/customfield/add/")
    page.select_option("#id_entity", "opportunity")
    page.fill("#id_name", "Seats")
    page.fill("#id_internal_name", "Seat count")
    page.click("input[name=_save]")
    assert "digits and underscores only" in page.inner_text(".field-internal_name")
    shot(page, "8-custom-field-refused")
    page.fill("#id_internal_name", "Seat_count")
    page.click("input[name=_save]")
    page.wait_for_selector("text=was added successfully")
    assert "{{Opportunity.Field(Seat_count)}}" in page.inner_text("#result_list")
    shot(page, "9-custom-field-added")
    page.close()
