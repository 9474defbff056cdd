"""POST/DELETE .../imports/{id}/data: streaming into staging, all-or-nothing per request."""

import io
import json
import threading

import pytest
from django.test import override_settings

from pipeline.models import StagedRow, StagedUpload, Sync
from tests.concurrency import Racer
from tests.factories import ImportDefinitionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def definition(api):
    return ImportDefinitionFactory(site=api.site)


def data_url(definition):
    return f"/api/bulk/2.0/opportunities/imports/{definition.pk}/data"


ROWS = [
    {"OpportunityID": "1", "OpportunityName": "Acme", "Amount": "1000", "Stage": "Proposal", "Unknown": "x"},
    {"OpportunityID": "2", "OpportunityName": "Beta", "Amount": 12.5, "Stage": "Negotiation", "Territory": None},
]


def post_json(api, definition, payload):
    raw = payload if isinstance(payload, bytes | str) else json.dumps(payload)
    return api.generic("POST", data_url(definition), raw, content_type="application/json")


def post_csv(api, definition, text):
    raw = text if isinstance(text, bytes) else text.encode()
    return api.generic("POST", data_url(definition), raw, content_type="text/csv")


def staged(definition):
    return list(StagedRow.objects.filter(definition=definition).order_by("id").values_list("data", flat=True))


def test_json_rows_are_staged_as_strings_keeping_only_definition_keys(api, definition):
    response = post_json(api, definition, ROWS)
    assert response.status_code == 204 and response.content == b""
    assert staged(definition) == [
        {"OpportunityID": "1", "OpportunityName": "Acme", "Amount": "1000", "Stage": "Proposal"},
        {"OpportunityID": "2", "OpportunityName": "Beta", "Amount": "12.5", "Stage": "Negotiation", "Territory": None},
    ]
    upload = StagedUpload.objects.get(definition=definition)
    assert "Unknown" in upload.columns and upload.row_count == 2


def test_csv_is_copied_with_quotes_bom_and_appends(api, definition):
    csv_text = '\ufeffOpportunityID,OpportunityName,Amount,Stage,Extra\r\n1,"Acme, ""Inc""",10,Proposal,z\r\n2,"Multi\nLine",5,Proposal,\r\n'
    assert post_csv(api, definition, csv_text).status_code == 204
    assert post_json(api, definition, ROWS[:1]).status_code == 204
    rows = staged(definition)
    assert rows[0] == {"OpportunityID": "1", "OpportunityName": 'Acme, "Inc"', "Amount": "10", "Stage": "Proposal"}
    assert rows[1]["OpportunityName"] == "Multi\nLine"
    assert len(rows) == 3


@pytest.mark.parametrize(
    "payload,constraint",
    [
        (b'[{"OpportunityID": "1"}, {"OpportunityID": ', "Invalid JSON"),
        (b'{"OpportunityID": "1"}', "Must be a JSON array of objects."),
        (b'[{"OpportunityID": "1"}, 5]', "Each array element must be a JSON object."),
        (b'[{"OpportunityID": {"nested": 1}}]', "Values must be strings"),
        (b"", "Must be a JSON array of objects."),
        ('[{"OpportunityName": "caf\xe9"}]'.encode("latin-1"), "UTF-8"),
    ],
)
def test_unreadable_json_is_400_and_stages_nothing(api, definition, payload, constraint):
    assert post_json(api, definition, ROWS).status_code == 204
    response = post_json(api, definition, payload)
    assert response.status_code == 400
    assert constraint in response.json()["failures"][0]["constraint"]
    assert len(staged(definition)) == 2  # the earlier upload is intact, nothing of this one
    assert StagedUpload.objects.filter(definition=definition).count() == 1


@pytest.mark.parametrize(
    "payload,constraint",
    [
        (b"", "header"),
        (b"\n1,2\n", "header"),
        ("OpportunityID,OpportunityName\n1,caf\xe9\n".encode("latin-1"), "UTF-8"),
        (b"OpportunityID,OpportunityName\n1,a\n2,b,extra\n", "extra data after last expected column"),
        (b'OpportunityID,OpportunityName\n1,"unterminated\n', "Unreadable CSV"),
    ],
)
def test_unreadable_csv_is_400_and_stages_nothing(api, definition, payload, constraint):
    response = post_csv(api, definition, payload)
    assert response.status_code == 400, response.content
    assert constraint in response.json()["failures"][0]["constraint"]
    assert staged(definition) == []
    assert not StagedUpload.objects.exists()


@override_settings(BULK_MAX_UPLOAD_BYTES=1000)
def test_body_over_the_limit_is_413_and_stages_nothing(api, definition):
    big = [{"OpportunityID": str(i), "OpportunityName": "x" * 50} for i in range(50)]
    response = post_json(api, definition, big)
    assert response.status_code == 413
    assert response.json()["failures"][0]["field"] == "body"
    csv_body = "OpportunityID,OpportunityName\n" + "".join(f"{i},{'y' * 50}\n" for i in range(50))
    assert post_csv(api, definition, csv_body).status_code == 413
    assert staged(definition) == []


def test_unsupported_content_type_is_415(api, definition):
    response = api.generic("POST", data_url(definition), b"<rows/>", content_type="application/xml")
    assert response.status_code == 415


def test_delete_data_clears_staged_rows_and_409_while_a_sync_is_pending(api, definition):
    post_json(api, definition, ROWS)
    assert api.delete(data_url(definition)).status_code == 204
    assert staged(definition) == []
    post_json(api, definition, ROWS)
    assert (
        api.post(
            "/api/bulk/2.0/syncs", {"syncedInstanceUri": f"/opportunities/imports/{definition.pk}"}, format="json"
        ).status_code
        == 201
    )
    response = api.delete(data_url(definition))
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert len(staged(definition)) == 2
    assert api.delete(f"/api/bulk/2.0/opportunities/imports/{definition.pk}").status_code == 409
    # Nor is it changed: the sync's chunks read its fields and identifier as they are.
    url = f"/api/bulk/2.0/opportunities/imports/{definition.pk}"
    before = api.get(url).json()
    response = api.put(url, {**before, "name": "renamed"}, format="json")
    assert response.status_code == 409 and response.json()["failures"][0]["field"] == "syncs"
    assert api.get(url).json() == before


def test_auto_sync_definition_answers_201_with_the_pending_sync(api):
    definition = ImportDefinitionFactory(site=api.site, is_sync_triggered_on_import=True)
    response = post_json(api, definition, ROWS)
    assert response.status_code == 201
    sync = Sync.objects.get()
    assert response.json() == {
        "syncedInstanceUri": f"/opportunities/imports/{definition.pk}",
        "status": "pending",
        "createdAt": response.json()["createdAt"],
        "createdBy": api.user.username,
        "uri": f"/syncs/{sync.pk}",
    }


def test_other_sites_data_endpoints_are_404(api, other_api, definition):
    assert post_json(other_api, definition, ROWS).status_code == 404
    assert other_api.delete(data_url(definition)).status_code == 404
    assert staged(definition) == []


def test_kb_used_reports_unsynced_staged_volume(api, definition):
    post_json(api, definition, [{"OpportunityID": str(i), "OpportunityName": "n" * 100} for i in range(30)])
    assert api.get(f"/api/bulk/2.0/opportunities/imports/{definition.pk}").json()["kbUsed"] >= 3


class _Gated(io.RawIOBase):
    """A request body that sends its first half, then waits for `gate` before the rest."""

    def __init__(self, data: bytes, started: threading.Event, gate: threading.Event):
        self.data, self.pos, self.started, self.gate = data, 0, started, gate

    def readable(self):
        return True

    def readinto(self, buffer):
        half = len(self.data) // 2
        if self.pos >= half:
            self.started.set()
            self.gate.wait(30)
        end = min(len(self.data), self.pos + len(buffer), half if self.pos < half else len(self.data))
        n = end - self.pos
        buffer[:n] = self.data[self.pos : end]
        self.pos = end
        return n


@pytest.mark.django_db(transaction=True)
def test_overlapping_uploads_to_an_auto_sync_definition_run_one_after_the_other(api):
    """Two uploads at once to a definition that syncs on import: the first makes the sync, the
    second waits for it and finds that sync pending (409, rows staged). Both holding the
    definition FOR SHARE and then asking FOR UPDATE was a deadlock, and a 500."""
    from pipeline.services.imports import import_data_load

    definition = ImportDefinitionFactory(site=api.site, is_sync_triggered_on_import=True)
    raw = json.dumps(ROWS).encode()
    started, gate = threading.Event(), threading.Event()

    def upload(stream):
        return lambda: import_data_load(
            definition=definition,
            user=api.user,
            stream=stream,
            content_type="application/json",
            content_length=len(raw),
        )

    first = Racer(upload(_Gated(raw, started, gate)))
    assert started.wait(30)  # the first holds the definition, half its body read
    second = Racer(upload(io.BytesIO(raw)))
    try:
        second.wait_until_blocked()  # the second waits for the first
    finally:
        gate.set()
    first, second = first.join(), second.join()
    assert first.sync is not None and first.conflict is None
    assert second.sync is None and second.conflict is not None
    assert StagedUpload.objects.filter(definition=definition).count() == 2
    assert Sync.objects.filter(definition=definition).count() == 1
