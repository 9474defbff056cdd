"""The retention purge (`imports_purge_expired`, beat's `syncs.purge_expired`) on both sides: it
deletes staged rows past their definition's dataRetentionDuration and keeps those that are not,
deletes Bulk definitions past their autoDeleteDuration and keeps the others (and one whose sync
runs), and deletes expired idempotency answers and dead claims; each count it returns is what
it deleted."""

from datetime import timedelta

import pytest
from django.utils import timezone

from kernel.idempotency import claim_key
from kernel.models import IdempotencyClaim, IdempotencyKey
from pipeline.models import ImportDefinition, StagedRow, StagedUpload
from pipeline.services.imports import imports_purge_expired
from tests.factories import ImportDefinitionFactory, SyncFactory
from tests.pipeline.helpers import stage

pytestmark = pytest.mark.django_db

FIELDS = {
    "OpportunityID": "{{Opportunity.Id}}",
    "OpportunityName": "{{Opportunity.Field(Name)}}",
    "Amount": "{{Opportunity.Field(Amount)}}",
    "Stage": "{{Opportunity.Field(Stage)}}",
}


def rows(*ids):
    return [{"OpportunityID": str(i), "OpportunityName": "n", "Amount": "1", "Stage": "Proposal"} for i in ids]


def age(definition, hours: float) -> None:
    """Makes the definition's uploads so far `hours` old."""
    StagedUpload.objects.filter(definition=definition).update(created_at=timezone.now() - timedelta(hours=hours))


def bulk_definition(api, **props) -> ImportDefinition:
    """A definition made through the Bulk API, as a client makes it."""
    response = api.post(
        "/api/bulk/2.0/opportunities/imports",
        {"name": "Retained", "fields": FIELDS, "identifierFieldName": "OpportunityID", **props},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return ImportDefinition.objects.get(pk=int(response.json()["uri"].rsplit("/", 1)[1]))


def test_rows_past_their_retention_go_and_the_others_stay(api):
    definition = bulk_definition(api, dataRetentionDuration="PT1H")
    stage(definition, rows(1, 2, 3))
    age(definition, 2)  # expired
    stage(definition, rows(4, 5))  # just staged
    longer = bulk_definition(api, dataRetentionDuration="PT3H")
    stage(longer, rows(6))
    age(longer, 2)  # as old, but its retention is longer
    claimed = bulk_definition(api, dataRetentionDuration="PT1H")
    stage(claimed, rows(7, 8))
    age(claimed, 2)
    SyncFactory(site=api.site, definition=claimed, status="active")
    StagedUpload.objects.filter(definition=claimed).update(sync=claimed.syncs.get())  # a running sync's rows

    purged = imports_purge_expired()

    assert purged["staged_rows"] == 3
    assert sorted(StagedRow.objects.filter(definition=definition).values_list("data__OpportunityID", flat=True)) == [
        "4", "5",
    ]  # fmt: skip
    assert StagedRow.objects.filter(definition=longer).count() == 1
    assert StagedRow.objects.filter(definition=claimed).count() == 2
    assert imports_purge_expired()["staged_rows"] == 0  # nothing more expired


def test_bulk_definitions_past_their_auto_delete_go_with_their_rows_and_the_others_stay(api):
    expired = bulk_definition(api, autoDeleteDuration="PT1H")
    stage(expired, rows(1, 2))
    kept = bulk_definition(api, autoDeleteDuration="PT1H")
    forever = bulk_definition(api)
    running = bulk_definition(api, autoDeleteDuration="PT1H")
    SyncFactory(site=api.site, definition=running, status="pending")
    assert expired.auto_delete_at and expired.auto_delete_at > timezone.now() + timedelta(minutes=59)
    ImportDefinition.objects.filter(pk__in=[expired.pk, running.pk]).update(
        auto_delete_at=timezone.now() - timedelta(seconds=1)
    )  # their hour has passed

    purged = imports_purge_expired()

    assert purged["definitions"] == 1
    assert not ImportDefinition.objects.filter(pk=expired.pk).exists()
    assert not StagedRow.objects.filter(definition_id=expired.pk).exists()
    assert api.get(f"/api/bulk/2.0/opportunities/imports/{expired.pk}").status_code == 404
    assert set(ImportDefinition.objects.values_list("pk", flat=True)) == {kept.pk, forever.pk, running.pk}


def answered_then_aged(api, settings, *keys: str) -> None:
    """An upload answered under each key; those starting "old" made older than the keys are kept."""
    definition = ImportDefinitionFactory(site=api.site)
    for k in keys:
        response = api.post(
            f"/api/bulk/2.0/opportunities/imports/{definition.pk}/data",
            rows(k),
            format="json",
            HTTP_IDEMPOTENCY_KEY=k,
        )
        assert response.status_code == 204
    IdempotencyKey.objects.filter(key__startswith="old").update(
        created_at=timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_KEY_SECONDS + 1)
    )


def test_expired_idempotency_answers_and_dead_claims_go_and_live_ones_stay(api, settings):
    answered_then_aged(api, settings, "old-1", "old-2", "fresh")
    claim_key(site_id=api.site.pk, user_id=api.user.pk, key="dead")
    claim_key(site_id=api.site.pk, user_id=api.user.pk, key="live")
    IdempotencyClaim.objects.filter(key="dead").update(expires_at=timezone.now() - timedelta(seconds=1))

    purged = imports_purge_expired()

    assert purged["idempotency_keys"] == 2
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]
    assert list(IdempotencyClaim.objects.values_list("key", flat=True)) == ["live"]


def test_expired_idempotency_answers_go_batch_after_batch_oldest_first(api, settings, monkeypatch):
    import kernel.idempotency

    monkeypatch.setattr(kernel.idempotency, "PURGE_BATCH", 2)
    answered_then_aged(api, settings, "old-1", "old-2", "old-3", "old-4", "old-5", "fresh")

    assert imports_purge_expired()["idempotency_keys"] == 5  # batches of 2, 2 and 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]
