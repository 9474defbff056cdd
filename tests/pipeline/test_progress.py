"""Progress moves while a chunk runs: its transaction is open, its counters not committed, yet
`GET /syncs/{id}` shows the rows it has read, every 1,000 rows (`progress.inFlight`)."""

import json
import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connections
from django.test import Client
from django.urls import reverse

from kernel.models import User
from pipeline.services import sync_run_chunk
from tests.factories import ImportDefinitionFactory
from tests.pipeline.helpers import staged_sync


@pytest.mark.django_db(transaction=True)
def test_a_running_chunk_reports_its_rows_before_it_commits(api, settings, monkeypatch):
    import entities.opportunities.sql

    settings.BULK_SYNC_CHUNK_ROWS, settings.BULK_SYNC_LANES = 10_000, 1
    definition = ImportDefinitionFactory(site=api.site)
    sync = staged_sync(definition, [
        {"OpportunityID": str(i), "OpportunityName": f"D{i}", "Amount": "1", "Stage": "Proposal"} for i in range(2500)
    ])  # fmt: skip
    judged, release = threading.Event(), threading.Event()
    real = entities.opportunities.sql.process_chunk

    def held(cursor, **kw):
        result = real(cursor, **kw)  # every row read, nothing committed yet
        judged.set()
        release.wait(30)
        return result

    monkeypatch.setattr(entities.opportunities.sql, "process_chunk", held)
    lane = threading.Thread(target=lambda: (sync_run_chunk(sync_id=sync.pk), connections.close_all()))
    lane.start()
    try:
        assert judged.wait(30)
        running = api.get(f"/api/bulk/2.0/syncs/{sync.pk}").json()["progress"]
        assert running["processed"] == 0 and running["inFlight"] == 2000  # the last tick: 2,000 rows read
        # The admin's bars, the operators' command and the metrics read the same figure.
        admin = Client()
        admin.force_login(User.objects.create_superuser(username="root", password="x", email=""))
        bar = admin.get(reverse("admin:syncs_sync_progress") + f"?ids={sync.pk}").json()["syncs"][0]
        assert (bar["processed"], bar["committed"], bar["inFlight"], bar["percent"]) == (2000, 0, 2000, 80.0)
        out = StringIO()
        call_command("syncs", "show", str(sync.pk), "--json", stdout=out)
        assert json.loads(out.getvalue())["processed"] == 2000
        settings.METRICS_TOKEN = "metrics-token"
        scraped = admin.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-token").content.decode()
        assert f'bulk_running_sync_processed_rows{{site="{api.site.name}",sync_id="{sync.pk}"}} 2000.0' in scraped
    finally:
        release.set()
        lane.join(30)
    done = api.get(f"/api/bulk/2.0/syncs/{sync.pk}").json()
    assert done["status"] == "success"
    assert done["progress"]["processed"] == 2500 and done["progress"]["inFlight"] == 0
