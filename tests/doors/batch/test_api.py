"""The upload door over HTTP: every column rule's 400, file-level errors, 413, tenancy, and a job
run to the end in this process (no worker: the sync chunks are run directly)."""

import csv
import io
from decimal import Decimal

import pytest
from django.db import connection

from doors.batch.models import BatchJob
from entities.contacts.models import Contact
from entities.linkage.models import OpportunityContact
from entities.opportunities.models import Opportunity, Stage
from pipeline.models import ImportDefinition, StagedRow
from pipeline.services import sync_run_chunk
from tests.doors.batch.helpers import HEADER, csv_file, rows_csv, upload
from tests.factories import ContactFactory
from tests.pipeline.helpers import drive
from tests.plans import captured_plans, plan_of

pytestmark = pytest.mark.django_db

OK = "2024-05-01T10:00:00Z,GBP,1200.50,Proposal,ann@example.com,REF-1"


def _nothing_stored(site):
    assert not BatchJob.objects.filter(site=site).exists()
    assert not ImportDefinition.objects.filter(site=site).exists()
    assert not StagedRow.objects.exists()


def _failures(response):
    assert response.status_code == 400, response.content
    return response.json()["failures"]


def run_job(api, job_id):
    job = BatchJob.objects.get(uuid=job_id)
    assert job.sync_id is not None
    drive(job.sync_id)
    return api.get(f"/api/v1/{api.site.pk}/batch/{job_id}/status").json()


def download(api, url):
    response = api.get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.mark.parametrize(
    "row, column, value",
    [
        (",GBP,1,Proposal,a@example.com,R", "OpportunityDateTime", None),
        ("2024-05-01T10:00,GBP,1,Proposal,a@example.com,R", "OpportunityDateTime", "2024-05-01T10:00"),
        ("2024-05-01Z,GBP,1,Proposal,a@example.com,R", "OpportunityDateTime", "2024-05-01Z"),
        (
            "2024-05-01T10:00:00+02:00,GBP,1,Proposal,a@example.com,R",
            "OpportunityDateTime",
            "2024-05-01T10:00:00+02:00",
        ),
        ("2999-01-01T00:00:00Z,GBP,1,Proposal,a@example.com,R", "OpportunityDateTime", "2999-01-01T00:00:00Z"),
        ("2024-05-01T10:00:00Z,,1,Proposal,a@example.com,R", "CurrencyCode", None),
        ("2024-05-01T10:00:00Z,XYZ,1,Proposal,a@example.com,R", "CurrencyCode", "XYZ"),
        ("2024-05-01T10:00:00Z,GBP,,Proposal,a@example.com,R", "OpportunityValue", None),
        ("2024-05-01T10:00:00Z,GBP,12a,Proposal,a@example.com,R", "OpportunityValue", "12a"),
        ("2024-05-01T10:00:00Z,GBP,1,,a@example.com,R", "PipelineStage", None),
        ("2024-05-01T10:00:00Z,GBP,1,Proposal,not-an-email,R", "EmailAddress", "not-an-email"),
        ("2024-05-01T10:00:00Z,GBP,1,Proposal,,R", "identifier", None),
    ],
)
def test_each_column_rule_is_a_400_naming_row_column_and_value(api, row, column, value):
    response = upload(api, rows_csv(OK, row))
    failures = _failures(response)
    assert response.json()["code"] == "invalid_batch"
    assert response.json()["totalErrors"] == 1
    assert failures[0]["row"] == 2 and failures[0]["field"] == column
    assert failures[0].get("value") == value
    _nothing_stored(api.site)


def test_phone_and_properties_rules(api):
    header = "OpportunityDateTime,CurrencyCode,OpportunityValue,PipelineStage,PhoneNumber,AdditionalDataProperties"
    text = rows_csv(
        "2024-05-01T10:00:00Z,GBP,1,Proposal,+447911123456,Name=Source,Value=Google",
        "2024-05-01T10:00:00Z,GBP,1,Proposal,call me,",
        '2024-05-01T10:00:00Z,GBP,1,Proposal,+447911123457,"Name=Source,Value=Google;Campaign=x"',
        header=header,
    )
    failures = _failures(upload(api, text))
    # row 1's unquoted property cell has one value too many for the header
    assert [(f["row"], f["field"]) for f in failures] == [
        (1, "row"),
        (2, "PhoneNumber"),
        (3, "AdditionalDataProperties"),
    ]
    assert "Name=X,Value=Y" in failures[2]["constraint"]


def test_reference_must_be_unique_in_the_file_but_the_sites_own_are_fine(api):
    Opportunity.objects.create(
        site=api.site, external_id="taken", name="x", stage=Stage.objects.for_site(api.site).first()
    )
    text = rows_csv(
        OK,
        "2024-05-02T10:00:00Z,GBP,1,Proposal,b@example.com,ref-1",
        "2024-05-03T10:00:00Z,GBP,1,Proposal,c@example.com,TAKEN",  # known to the site: an update
    )
    failures = _failures(upload(api, text))
    assert [(f["row"], f["field"], f["value"]) for f in failures] == [(2, "Reference", "ref-1")]
    assert "row 1" in failures[0]["constraint"]


def test_same_identifier_and_datetime_are_duplicates(api):
    header = "OpportunityDateTime,CurrencyCode,OpportunityValue,PipelineStage,EmailAddress,RaId"
    text = rows_csv(
        "2024-05-01T10:00:00Z,GBP,1,Proposal,ann@example.com,",
        "2024-05-01T10:00:00+00:00,GBP,2,Proposal,ANN@example.com,",  # same instant, same email
        "2024-05-01T11:00:00Z,GBP,3,Proposal,ann@example.com,",  # other time: fine
        "2024-05-01T12:00:00Z,GBP,4,Proposal,,visitor-9",
        "2024-05-01T12:00:00Z,GBP,5,Proposal,,visitor-9",
        header=header,
    )
    failures = _failures(upload(api, text))
    assert [(f["row"], f["field"]) for f in failures] == [(2, "EmailAddress"), (5, "RaId")]
    assert failures[0]["constraint"].startswith("Duplicate: row 1")
    _nothing_stored(api.site)


def test_duplicates_of_every_identifier_kind_name_each_later_row_and_field(api):
    header = (
        "OpportunityDateTime,CurrencyCode,OpportunityValue,PipelineStage,EmailAddress,PhoneNumber,RaId,PayloadValue"
    )
    text = rows_csv(
        "2024-05-01T10:00:00Z,GBP,1,Proposal,ann@example.com,+44 20 7946 0958,,",
        "2024-05-01T10:00:00Z,GBP,2,Proposal,bob@example.com,+442079460958,,",  # phone as row 1, other form
        "2024-05-01T10:00:00.000Z,GBP,3,Proposal,Ann@Example.com,+44 20 7946 0958,,",  # e-mail and phone
        "2024-05-01T10:00:00Z,GBP,4,Proposal,,,,crm-1",
        "2024-05-01T10:00:01Z,GBP,5,Proposal,,,,crm-1",  # other second: fine
        "2024-05-01T10:00:00Z,GBP,6,Proposal,,,,crm-1",
        header=header,
    )
    failures = _failures(upload(api, text))
    assert [(f["row"], f["field"], f["value"]) for f in failures] == [
        (2, "PhoneNumber", "+442079460958"),
        (3, "EmailAddress", "ann@example.com"),
        (3, "PhoneNumber", "+442079460958"),
        (6, "PayloadValue", "crm-1"),
    ]
    assert [f["constraint"] for f in failures][2:] == [
        "Duplicate: row 1 has the same PhoneNumber and OpportunityDateTime.",
        "Duplicate: row 4 has the same PayloadValue and OpportunityDateTime.",
    ]
    _nothing_stored(api.site)


def test_errors_are_capped_with_total(api, monkeypatch):
    monkeypatch.setattr("doors.batch.services.MAX_ERRORS", 3)
    text = rows_csv(*[f"2024-05-01T10:00:00Z,GBP,bad,Proposal,a{i}@example.com,R{i}" for i in range(10)])
    response = upload(api, text)
    assert len(_failures(response)) == 3
    assert response.json()["totalErrors"] == 10


@pytest.mark.parametrize(
    "body, needle",
    [
        (b"", "empty"),
        (b"\xef\xbb\xbf", "empty"),
        (rows_csv(), "no data rows"),
        ("2024-05-01T10:00:00Z,GBP,1,Proposal,a@example.com,R\r\n", "header row"),
        ("OpportunityDateTime,CurrencyCode,Latin1 caf\xe9\r\n".encode("latin-1"), "UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "UTF-8"),
    ],
)
def test_file_level_errors(api, body, needle):
    failures = _failures(upload(api, body))
    assert needle in failures[0]["constraint"]
    _nothing_stored(api.site)


def test_unknown_column_and_missing_required_column(api):
    failures = _failures(upload(api, rows_csv(OK + ",x", header=HEADER + ",Colour")))
    assert {"field": "header", "value": "Colour"}.items() <= failures[0].items()
    failures = _failures(
        upload(api, "OpportunityDateTime,CurrencyCode,PipelineStage,RaId\r\n2024-05-01T10:00:00Z,GBP,P,v\r\n")
    )
    assert failures == [{"field": "header", "value": "OpportunityValue", "constraint": "Required column is missing."}]


def test_file_over_the_limit_is_413(api, settings):
    settings.BATCH_MAX_UPLOAD_BYTES = 100
    response = upload(api, rows_csv(OK, OK.replace("REF-1", "REF-2"), OK.replace("REF-1", "REF-3")))
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    _nothing_stored(api.site)


def test_missing_file_part(api):
    response = api.post(f"/api/v1/{api.site.pk}/opportunity/upload/batch", {"other": "x"}, format="multipart")
    assert response.status_code == 400 and response.json()["failures"][0]["field"] == "file"


def test_other_sites_ids_are_404(api, other_api):
    assert upload(api, rows_csv(OK), site_id=other_api.site.pk).status_code == 404
    job_id = upload(api, rows_csv(OK)).json()["jobId"]
    assert other_api.get(f"/api/v1/{api.site.pk}/batch/{job_id}/status").status_code == 404
    assert other_api.get(f"/api/v1/{other_api.site.pk}/batch/{job_id}/status").status_code == 404
    assert other_api.get(f"/api/v1/{other_api.site.pk}/batch/{job_id}/errors.csv").status_code == 404
    assert other_api.get(f"/api/v1/{other_api.site.pk}/batch").json()["items"] == []
    assert api.get(f"/api/v1/{api.site.pk}/batch/not-a-uuid/status").status_code == 404


def test_upload_runs_to_complete_with_labels_properties_contacts(api):
    # given: a contact that the second row's phone matches, and a stage name the site lacks
    known = ContactFactory(site=api.site, phone="+447911123456", email="known@example.com")
    header = (
        "OpportunityDateTime,CurrencyCode,OpportunityValue,PipelineStage,EmailAddress,PhoneNumber,RaId,"
        "PayloadValue,Label,Reference,Label,AdditionalDataProperties,label"
    )
    text = rows_csv(
        "2024-05-01T10:00:00Z,gbp,1200.50,proposal,Ann@Example.com,,,,hot,REF-1,spring,"
        '"Name=Source,Value=Google;Name=Campaign,Value=Spring",',
        "2024-05-02T10:00:00.250Z,USD,99,Demo Booked,,+44 7911 123456,,,,,,,",
        "2024-05-03T10:00:00Z,EUR,-5,Proposal,,,ra-77,,,REF-3,,,x",
        "2024-05-04T10:00:00Z,EUR,7,Proposal,,,,cust-1,,REF-4,,,",
        "2024-05-05T10:00:00Z,EUR,8,Proposal,ann@example.com,,,,,REF-5,,,",
        header=header,
    )
    # when
    response = upload(api, text, name="may.csv")
    assert response.status_code == 202, response.content
    job_id = response.json()["jobId"]
    pending = api.get(f"/api/v1/{api.site.pk}/batch/{job_id}/status").json()
    assert pending["status"] == "pending" and pending["errorFileUrl"] is None
    status = run_job(api, job_id)
    # then
    assert status["status"] == "complete"
    assert (status["actualRowCount"], status["totalUploadedCount"], status["errorCount"]) == (5, 5, 0)
    assert status["uploadedFileName"] == "may.csv"
    assert status["progress"]["percent"] == 100.0
    assert status["successFileUrl"].startswith("http://testserver/api/v1/")
    opp = Opportunity.objects.get(site=api.site, external_id="REF-1")
    assert opp.labels == ["hot", "spring"]
    assert opp.properties == {"Source": "Google", "Campaign": "Spring"}
    assert opp.occurred_at.isoformat() == "2024-05-01T10:00:00+00:00"
    assert (opp.amount, opp.currency, opp.stage.name, opp.name) == (1200.5, "GBP", "Proposal", "REF-1")
    generated = Opportunity.objects.get(site=api.site, external_id=f"batch-{job_id}-2")
    assert generated.name == "Demo Booked 99 USD" and generated.stage.status == "open"
    assert Opportunity.objects.get(external_id="REF-3").labels == ["x"]
    links = {(link.opportunity.external_id, link.contact_id) for link in OpportunityContact.objects.all()}
    ann = Contact.objects.get(site=api.site, email__iexact="ann@example.com")
    ra = Contact.objects.get(site=api.site, visitor_id="ra-77")
    cust = Contact.objects.get(site=api.site, external_id="cust-1")
    assert links == {
        ("REF-1", ann.pk),
        (f"batch-{job_id}-2", known.pk),
        ("REF-3", ra.pk),
        ("REF-4", cust.pk),
        ("REF-5", ann.pk),
    }
    success = download(api, status["successFileUrl"])
    outcome = ["RowNumber", "OpportunityId", "OpportunityExternalId", "StageCreated", "Outcome"]
    assert success[0] == outcome + header.split(",")  # the file's own header, repeated Labels and all
    assert [r[0] for r in success[1:]] == ["1", "2", "3", "4", "5"]
    assert success[1][:5] == ["1", str(opp.uuid), "REF-1", "false", "created"]
    assert success[2][:5] == ["2", str(generated.uuid), f"batch-{job_id}-2", "true", "created"]  # Demo Booked was new
    assert success[1][5:] == next(csv.reader(io.StringIO(text.split("\r\n")[1])))  # the row's own cells
    assert success[3][5:][2] == "'-5"  # OWASP: a number starting with - is neutralised too
    errors = download(api, status["errorFileUrl"])
    assert errors == [["RowNumber", "ErrorCode", "ErrorField", "ErrorMessage", *header.split(",")]]
    jobs = api.get(f"/api/v1/{api.site.pk}/batch").json()
    assert jobs["totalResults"] == 1 and jobs["items"][0]["jobId"] == job_id


def test_jobs_list_is_newest_first_and_paginated(api):
    ids = [upload(api, rows_csv(OK.replace("REF-1", f"R{i}"))).json()["jobId"] for i in range(3)]
    page = api.get(f"/api/v1/{api.site.pk}/batch?limit=2").json()
    assert [j["jobId"] for j in page["items"]] == ids[::-1][:2]
    assert page["hasMore"] is True and page["totalResults"] == 3


def test_files_are_409_until_the_job_ends(api):
    job_id = upload(api, rows_csv(OK)).json()["jobId"]
    assert api.get(f"/api/v1/{api.site.pk}/batch/{job_id}/errors.csv").status_code == 409


def test_record_index_is_the_csv_row_number_across_chunks(api, settings):
    # given: small chunks, a blank line (not a row), and row 4's stage deleted after validation
    settings.BULK_SYNC_CHUNK_ROWS = 2
    rows = [OK.replace("REF-1", f"R{i}").replace("ann@", f"u{i}@") for i in range(1, 6)]
    rows[3] = rows[3].replace("Proposal", "Short Lived")
    text = rows_csv(*rows[:3], "") + rows_csv(*rows[3:], header="")[2:]
    job_id = upload(api, text).json()["jobId"]
    Stage.objects.for_site(api.site).filter(name="Short Lived").delete()
    # when
    status = run_job(api, job_id)
    # then
    assert (status["status"], status["actualRowCount"], status["errorCount"]) == ("partialcomplete", 5, 1)
    errors = download(api, status["errorFileUrl"])
    assert [(r[0], r[1], r[2], r[-1]) for r in errors[1:]] == [("4", "ELQ-00039", "PipelineStage", "R4")]
    successes = download(api, status["successFileUrl"])
    assert [(r[0], r[2], r[-1]) for r in successes[1:]] == [
        ("1", "R1", "R1"), ("2", "R2", "R2"), ("3", "R3", "R3"), ("5", "R5", "R5"),
    ]  # fmt: skip


def test_every_cell_starting_with_a_formula_character_is_neutralised_numbers_too():
    from kernel.csvcells import csv_lines, unneutralise

    cells = ["=1+1", "+1 555", "-x", "@x", "\tx", "\rx", "-5.25", "+442079460958", "-.5", "1e5", "ok", " =x", None]
    lines = "".join(csv_lines(["=h"], [(c,) for c in cells]))
    written = lines.split("\r\n")
    assert written[0] == "'=h"
    assert written[1:-1] == ["'=1+1", "'+1 555", "'-x", "'@x", "'\tx", '"\'\rx"', "'-5.25", "'+442079460958",
                             "'-.5", "1e5", "ok", " =x", '""']  # fmt: skip
    # an upload reads a neutralised cell back as the text after the apostrophe, and nothing else changes
    read = [unneutralise(c) for c in ["'=1+1", "'+1 555", "'-x", "'@x", "'\tx", "'\rx", "-5.25", "'ok", "'", "''="]]
    assert read == ["=1+1", "+1 555", "-x", "@x", "\tx", "\rx", "-5.25", "'ok", "'", "''="]


LANES_HEADER = "OpportunityDateTime,CurrencyCode,OpportunityValue,PipelineStage,EmailAddress,PhoneNumber,RaId,Reference"


def lanes_rows():
    """60 rows: e-mails from a pool of 6 (in varying case), phone-only rows from a pool of 3,
    RaId-only rows from a pool of 3; every row its own Reference and date-time."""
    out = []
    for i in range(1, 61):
        email = phone = raid = ""
        if i % 4:
            email = f"{'User' if i % 3 else 'user'}{i % 8}@Example.com"
        elif i % 8:
            phone = f"+4479000000{i % 3:02d}"
        else:
            raid = f"visitor-{i % 3}"
        out.append(f"2024-05-01T{i // 60:02d}:{i % 60:02d}:00Z,GBP,{i}.00,Proposal,{email},{phone},{raid},REF-{i}")
    return out


@pytest.mark.parametrize("lanes", [1, 2, 4])
def test_lanes_give_the_same_contacts_and_links(api, settings, lanes):
    # given: small chunks spread over `lanes` lanes; rows sharing a contact identifier
    settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_LANES = 5, lanes
    response = upload(api, rows_csv(*lanes_rows(), header=LANES_HEADER))
    assert response.status_code == 202, response.json()
    job_id = response.json()["jobId"]
    # when
    status = run_job(api, job_id)
    # then: one contact per distinct identifier, and each opportunity linked to its row's contact
    assert BatchJob.objects.get(uuid=job_id).sync.lanes == lanes
    assert (status["status"], status["totalUploadedCount"], status["errorCount"]) == ("complete", 60, 0)
    cells = [line.split(",") for line in lanes_rows()]
    emails, phones, raids = ({r[k].lower() for r in cells if r[k]} for k in (4, 5, 6))
    assert (len(emails), len(phones), len(raids)) == (6, 3, 3)
    contacts = Contact.objects.filter(site=api.site)
    assert sorted(c.email.lower() for c in contacts if c.email) == sorted(emails)
    assert sorted(c.phone for c in contacts if c.phone) == sorted(phones)
    assert sorted(c.visitor_id for c in contacts if c.visitor_id) == sorted(raids)
    assert contacts.count() == 12
    links = {
        opp: (email, phone, raid)
        for opp, email, phone, raid in OpportunityContact.objects.filter(site=api.site).values_list(
            "opportunity__external_id", "contact__email", "contact__phone", "contact__visitor_id"
        )
    }
    assert len(links) == 60 and OpportunityContact.objects.filter(site=api.site).count() == 60
    for _, _, _, _, email, phone, raid, ref in cells:
        linked_email, linked_phone, linked_raid = links[ref]
        if email:
            assert linked_email.lower() == email.lower()
        else:
            assert (linked_phone or "", linked_raid or "") == (phone, raid)


def test_a_first_chunk_finds_the_opportunities_it_wrote_by_index_on_stale_statistics(api, settings):
    # given: statistics that say the opportunity table is empty (as before a site's first import)
    settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_LANES, settings.BULK_SYNC_FIRST_RANGE_ROWS = 200, 2, 100
    with connection.cursor() as cur:
        cur.execute("ANALYZE opportunities_opportunity")
    rows = [f"2024-05-01T10:00:00Z,GBP,{i},Proposal,u{i:04d}@example.com,REF-{i:04d}" for i in range(300)]
    response = upload(api, rows_csv(*rows))
    assert response.status_code == 202, response.json()
    job = BatchJob.objects.get(uuid=response.json()["jobId"])
    # when: lane 0 runs range 0 (its 100 rows), writing the opportunities and then matching them
    with captured_plans() as plans:
        sync_run_chunk(sync_id=job.sync_id, lane=0)
    # then: each staged row looked its opportunity up by id, not the site's rows per staged row
    plan = plan_of(plans, "CREATE TEMP TABLE _batch")
    probe = plan[plan.index("opportunities_opportunity o") :].split("\n")[1]
    assert "Index Cond:" in probe and "external_id" in probe, plan
    assert run_job(api, job.uuid)["status"] == "complete"
    assert Opportunity.objects.filter(site=api.site).count() == 300


def test_contacts_are_found_by_index_probes_on_stale_statistics(api, settings):
    # given: statistics from before the site had contacts, and then 3,000 of them
    settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_LANES = 500, 1
    with connection.cursor() as cur:
        cur.execute("DELETE FROM contacts_contact")
        cur.execute("ANALYZE contacts_contact")
        cur.execute(
            "INSERT INTO contacts_contact (site_id, email, phone, external_id)"
            " SELECT %s, 'c' || i || '@example.com', '+4420794' || lpad(i::text, 5, '0'), 'crm-' || i"
            " FROM generate_series(1, 3000) i",
            [api.site.pk],
        )
    header = HEADER + ",PhoneNumber,PayloadValue"
    rows = [
        f"2024-05-01T10:00:00Z,GBP,{i},Proposal,{'c' if i % 2 else 'u'}{i}@example.com,REF-{i},"
        f"+4420794{i:05d},crm-{i + 5000 * (i % 3 == 0)}"
        for i in range(1, 301)
    ] + [f"2024-05-02T10:00:00Z,GBP,1,Proposal,,R-{i},+4420794{i:05d}," for i in range(1, 51)]
    job = BatchJob.objects.get(uuid=upload(api, rows_csv(*rows, header=header)).json()["jobId"])
    # when
    with captured_plans() as plans:
        sync_run_chunk(sync_id=job.sync_id, lane=0)
    # then: no plan reads the site's contacts whole (a merge join along its index, a scan, a hash)
    contact_plans = [p for p in plans if "UPDATE _batch b SET contact_id" in p or 'INSERT INTO "contacts_contact"' in p]
    assert len(contact_plans) == 12, len(contact_plans)  # match, create, match again: 4 identifier kinds
    for plan in contact_plans:
        reads = [line for line in plan.split("\n") if "Scan" in line and "on contacts_contact" in line]
        assert reads and all("Index" in line for line in reads), plan
        assert "Merge Join" not in plan and "hashed SubPlan" not in plan, plan
    assert run_job(api, job.uuid)["status"] == "complete"
    linked = dict(
        OpportunityContact.objects.filter(site=api.site).values_list("opportunity__external_id", "contact__email")
    )
    assert linked["REF-1"] == "c1@example.com" and linked["REF-2"] == "u2@example.com"
    assert Contact.objects.filter(site=api.site).count() == 3000 + 150  # u2, u4, ...: new; R-*: by phone


def test_a_failed_job_puts_every_row_in_exactly_one_file_with_its_cells(api, settings):
    # given: a job whose sync fails after its first chunk of two rows
    from pipeline.services import sync_fail

    settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_LANES = 2, 1
    rows = [OK.replace("REF-1", f"R{i}").replace("ann@", f"u{i}@") for i in range(1, 6)]
    job = BatchJob.objects.get(uuid=upload(api, rows_csv(*rows)).json()["jobId"])
    drive(job.sync_id, chunks=1)
    sync_fail(sync_id=job.sync_id, reason="The worker gave up.")
    # when
    status = api.get(f"/api/v1/{api.site.pk}/batch/{job.uuid}/status").json()
    # then
    assert (status["status"], status["totalUploadedCount"], status["errorCount"]) == ("failed", 2, 3)
    successes = download(api, status["successFileUrl"])
    errors = download(api, status["errorFileUrl"])
    assert [(r[0], r[-1]) for r in successes[1:]] == [("1", "R1"), ("2", "R2")]
    assert [(r[0], r[1], r[-1]) for r in errors[1:]] == [
        ("3", "SRV-00100", "R3"), ("4", "SRV-00100", "R4"), ("5", "SRV-00100", "R5"),
    ]  # fmt: skip
    assert errors[1][4:] == rows[2].split(",")  # the row's own cells


def test_an_upload_ignores_exactly_the_outcome_columns_and_reads_neutralised_cells(api):
    header = "ErrorCode,RowNumber," + HEADER + ",PhoneNumber,Label,OpportunityId,errormessage,StageCreated"
    text = rows_csv(
        "ELQ-00026,7,2024-05-01T10:00:00Z,GBP,'-5.5,Proposal,ann@example.com,'=A1,'+44 7911 123456,'@hot,x,y,true",
        header=header,
    )
    response = upload(api, text)
    assert response.status_code == 202, response.content
    status = run_job(api, response.json()["jobId"])
    assert status["status"] == "complete"
    opp = Opportunity.objects.get(site=api.site, external_id="=A1")
    assert (opp.amount, opp.labels) == (Decimal("-5.5"), ["@hot"])
    assert Contact.objects.filter(site=api.site, phone="+447911123456").exists()
    success = download(api, status["successFileUrl"])
    # the uploaded outcome columns are not repeated: a result file's header is always uploadable
    assert success[0] == ["RowNumber", "OpportunityId", "OpportunityExternalId", "StageCreated", "Outcome",
                          *HEADER.split(","), "PhoneNumber", "Label"]  # fmt: skip
    assert success[1][5:] == ["2024-05-01T10:00:00Z", "GBP", "'-5.5", "Proposal", "ann@example.com", "'=A1",
                              "'+44 7911 123456", "'@hot"]  # fmt: skip
    # any other unknown column is still refused
    failures = _failures(upload(api, rows_csv(OK + ",x", header=HEADER + ",ErrorDetails")))
    assert failures[0]["value"] == "ErrorDetails"


def test_the_stored_file_is_read_back_one_part_at_a_time(api, monkeypatch):
    # given: parts of 64 bytes, so rows and a two-byte character straddle part boundaries
    monkeypatch.setattr("doors.batch.csvfiles.FILE_PART_BYTES", 64)
    rows = [OK.replace("REF-1", f"Réf-{i}").replace("ann@", f"u{i}@") for i in range(1, 40)]
    text = "\ufeff" + rows_csv(*rows)
    job_id = upload(api, text.encode()).json()["jobId"]
    job = BatchJob.objects.get(uuid=job_id)
    from doors.batch.models import BatchFile

    assert BatchFile.objects.filter(job=job).count() == -(-len(text.encode()) // 64)
    # when
    status = run_job(api, job_id)
    # then
    successes = download(api, status["successFileUrl"])
    assert [r[5:] for r in successes[1:]] == [r.split(",") for r in rows]
    assert successes[0][5:] == HEADER.split(",")  # the BOM is not part of the first column's name


def test_jobs_accepted_before_files_were_kept_give_outcome_columns_only(api):
    from doors.batch.models import BatchFile

    job_id = upload(api, rows_csv(OK)).json()["jobId"]
    BatchFile.objects.filter(job__uuid=job_id).delete()
    status = run_job(api, job_id)
    assert download(api, status["successFileUrl"])[1][:3] == ["1", str(Opportunity.objects.get().uuid), "REF-1"]
    assert download(api, status["errorFileUrl"]) == [["RowNumber", "ErrorCode", "ErrorField", "ErrorMessage"]]


def test_a_known_reference_updates_its_opportunity_and_the_job_says_so(api):
    # given: an opportunity the site has, under its Reference in another letter case
    stage = Stage.objects.for_site(api.site).get(name="Proposal")
    known = Opportunity.objects.create(site=api.site, external_id="ref-7", name="Acme deal", amount=5, stage=stage)
    header = HEADER + ",Label,AdditionalDataProperties"
    text = rows_csv(
        '2024-05-01T10:00:00Z,EUR,99.5,Negotiation,ann@example.com,REF-7,hot,"Name=Source,Value=Google"',
        "2024-05-02T10:00:00Z,GBP,10,Proposal,bob@example.com,REF-8,,",
        header=header,
    )
    # when
    response = upload(api, text)
    assert response.status_code == 202, response.content
    status = run_job(api, response.json()["jobId"])
    # then: the known one is updated in place (its name and external id kept), the new one created
    assert status["status"] == "complete"
    assert (status["totalUploadedCount"], status["createdCount"], status["updatedCount"]) == (2, 1, 1)
    known.refresh_from_db()
    assert (known.external_id, known.name, known.amount, known.currency) == ("ref-7", "Acme deal", 99.5, "EUR")
    assert (known.stage.name, known.labels, known.properties) == ("Negotiation", ["hot"], {"Source": "Google"})
    assert Opportunity.objects.filter(site=api.site).count() == 2
    assert OpportunityContact.objects.filter(opportunity=known, contact__email="ann@example.com").exists()
    success = download(api, status["successFileUrl"])
    assert [(r[0], r[1], r[2], r[4]) for r in success[1:]] == [
        ("1", str(known.uuid), "ref-7", "updated"),
        ("2", str(Opportunity.objects.get(external_id="REF-8").uuid), "REF-8", "created"),
    ]


def test_the_same_file_uploaded_twice_updates_what_the_first_created(api):
    text = rows_csv(OK, OK.replace("REF-1", "REF-2").replace("ann@", "bob@"))
    first = run_job(api, upload(api, text).json()["jobId"])
    second = run_job(api, upload(api, text).json()["jobId"])
    assert (first["createdCount"], first["updatedCount"]) == (2, 0)
    assert (second["status"], second["createdCount"], second["updatedCount"]) == ("complete", 0, 2)
    assert Opportunity.objects.filter(site=api.site).count() == 2
    assert [r[4] for r in download(api, second["successFileUrl"])[1:]] == ["updated", "updated"]


def test_national_phone_numbers_are_stored_in_e164_and_link_by_it(api):
    # given: a contact whose phone is stored in E.164, and the site's region GB (the default)
    assert api.site.phone_region == "GB"
    known = Contact.objects.create(site=api.site, phone="+442079460958")
    header = "OpportunityDateTime,CurrencyCode,OpportunityValue,PipelineStage,PhoneNumber,Reference"
    text = rows_csv(
        "2024-05-01T10:00:00Z,GBP,1,Proposal,(020) 7946-0958,P-1",
        "2024-05-01T10:00:00Z,GBP,2,Proposal,07911 123456 ext. 12,P-2",
        "2024-05-01T10:00:00Z,GBP,3,Proposal,+44 (0)7911-123456,P-3",  # same number, international: a duplicate
        header=header,
    )
    failures = _failures(upload(api, text))
    assert [(f["row"], f["field"], f["value"]) for f in failures] == [(3, "PhoneNumber", "+447911123456")]
    # when: without the duplicate
    response = upload(api, text.rsplit("\r\n", 2)[0] + "\r\n")
    status = run_job(api, response.json()["jobId"])
    # then
    assert status["status"] == "complete"
    links = dict(OpportunityContact.objects.filter(site=api.site).values_list("opportunity__external_id", "contact"))
    assert links["P-1"] == known.pk
    assert Contact.objects.get(pk=links["P-2"]).phone == "+447911123456"
    # the file's cells as sent, in the success file
    assert [r[5 + 4] for r in download(api, status["successFileUrl"])[1:]] == [
        "(020) 7946-0958",
        "07911 123456 ext. 12",
    ]


def test_a_national_number_is_read_with_the_sites_region_or_kept_as_sent_without_one(api):
    header = "OpportunityDateTime,CurrencyCode,OpportunityValue,PipelineStage,PhoneNumber"
    text = rows_csv("2024-05-01T10:00:00Z,GBP,1,Proposal,01234 567890", header=header)
    api.site.phone_region = "US"
    api.site.save(update_fields=["phone_region"])
    failures = _failures(upload(api, text))  # 11 digits are no US number
    assert (failures[0]["row"], failures[0]["field"]) == (1, "PhoneNumber") and "US" in failures[0]["constraint"]
    api.site.phone_region = ""
    api.site.save(update_fields=["phone_region"])
    status = run_job(api, upload(api, text).json()["jobId"])
    assert status["status"] == "complete"
    assert Contact.objects.filter(site=api.site, phone="01234 567890").exists()


def test_the_documents_own_paths_serve_the_same_views(api, other_api):
    # when: Ruler's paths, /v1/{siteId}/...
    response = api.post(
        f"/v1/{api.site.pk}/opportunity/upload/batch", {"file": csv_file(rows_csv(OK))}, format="multipart"
    )
    # then
    assert response.status_code == 202, response.content
    job_id = response.json()["jobId"]
    status = api.get(f"/v1/{api.site.pk}/batch/{job_id}/status")
    assert status.status_code == 200
    assert status.json() == api.get(f"/api/v1/{api.site.pk}/batch/{job_id}/status").json()
    assert status.json()["status"] == "pending"
    # another site's id in the path, or another site's caller: 404; no credentials: 401
    assert other_api.get(f"/v1/{api.site.pk}/batch/{job_id}/status").status_code == 404
    assert other_api.get(f"/v1/{other_api.site.pk}/batch/{job_id}/status").status_code == 404
    refused = api.post(
        f"/v1/{other_api.site.pk}/opportunity/upload/batch", {"file": csv_file(rows_csv(OK))}, format="multipart"
    )
    assert refused.status_code == 404
    api.credentials()
    assert api.get(f"/v1/{api.site.pk}/batch/{job_id}/status").status_code == 401
    assert BatchJob.objects.filter(site=api.site).count() == 1


def test_salesforce_and_hubspot_ids_are_optional_columns_a_later_file_without_them_keeps(api):
    # given: a file naming both ids (beyond Ruler's columns: the ids Ruddr's door shows), one row without
    header = HEADER + ",SalesforceId,HubspotId"
    first = rows_csv(
        "2024-05-01T10:00:00Z,EUR,10,Proposal,ann@example.com,REF-SF,006Dn000004ABCD,12345678",
        "2024-05-01T10:00:00Z,EUR,20,Proposal,bob@example.com,REF-NONE,,",
        header=header,
    )
    # when
    status = run_job(api, upload(api, first).json()["jobId"])
    # then
    assert (status["status"], status["createdCount"]) == ("complete", 2)
    opp = Opportunity.objects.get(site=api.site, external_id="REF-SF")
    assert (opp.salesforce_id, opp.hubspot_id) == ("006Dn000004ABCD", "12345678")
    bare = Opportunity.objects.get(site=api.site, external_id="REF-NONE")
    assert (bare.salesforce_id, bare.hubspot_id) == (None, None)
    # when: the same Reference again, without the columns, then with a new HubSpot id only
    run_job(api, upload(api, rows_csv("2024-05-02T10:00:00Z,EUR,11,Proposal,ann@example.com,REF-SF"))
            .json()["jobId"])  # fmt: skip
    run_job(api, upload(api, rows_csv("2024-05-03T10:00:00Z,EUR,12,Proposal,ann@example.com,REF-SF,,999",
                                      header=header)).json()["jobId"])  # fmt: skip
    # then: a missing or empty id keeps the stored one
    opp.refresh_from_db()
    assert (opp.amount, opp.salesforce_id, opp.hubspot_id) == (12, "006Dn000004ABCD", "999")


def test_an_external_id_over_its_width_refuses_the_file_naming_row_and_column(api):
    text = rows_csv("2024-05-01T10:00:00Z,EUR,10,Proposal,ann@example.com,REF-1," + "x" * 256,
                    header=HEADER + ",SalesforceId")  # fmt: skip
    response = upload(api, text)
    assert response.status_code == 400, response.content
    assert [(f["field"], f["row"]) for f in response.json()["failures"]] == [("SalesforceId", 1)]
    assert not Opportunity.objects.filter(site=api.site).exists()
