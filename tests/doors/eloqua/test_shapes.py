"""Each wire shape is defined once (`kernel.shapes`): its serializer is its members, and what it renders
from real rows is valid against the schema component that serializer gives."""

from __future__ import annotations

from datetime import UTC, datetime

import jsonschema
import pytest
from drf_spectacular.generators import SchemaGenerator

from doors.eloqua.shapes import FIELD, REJECT, SHAPES, SYNC, SYNC_DETAIL, SYNC_LOG
from kernel.shapes import Member, Shape
from pipeline.callbacks import callback_body
from pipeline.catalog import entity_spec
from pipeline.codes import Code
from pipeline.models import Reject, Severity, Sync, SyncLog, SyncStatus
from tests.doors.openapi.test_schema import _json_schema
from tests.factories import SiteFactory


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.ref_name)
def test_the_serializer_the_schema_shows_is_the_shape_that_renders(shape):
    serializer = shape.serializer
    assert serializer.Meta.ref_name == shape.ref_name
    assert list(serializer().fields) == list(shape.names)
    assert serializer.shape is shape


def test_an_optional_member_is_omitted_when_unset_and_members_keep_their_order():
    from rest_framework import serializers

    shape = Shape("T", [Member("a", serializers.CharField()), Member("b", serializers.CharField(required=False))])

    class Obj:
        a, b = "x", None

    assert shape.render(Obj()) == {"a": "x"}
    Obj.b = ""
    assert shape.render(Obj()) == {"a": "x"}
    Obj.b = "y"
    assert list(shape.render(Obj())) == ["a", "b"]
    with pytest.raises(ValueError):
        Shape("U", [Member("a", serializers.CharField()), Member("a", serializers.CharField())])


@pytest.fixture(scope="module")
def components():
    document = SchemaGenerator().get_schema(request=None, public=True)
    return lambda name: jsonschema.Draft7Validator(_json_schema(document["components"]["schemas"][name], document))


def _check(components, shape, answer):
    components(shape.ref_name).validate(answer)
    assert [k for k in shape.names if k in answer] == list(answer)  # the members' order


@pytest.mark.django_db
def test_rendered_syncs_logs_and_rejects_are_valid_against_their_components(components):
    site = SiteFactory()
    when = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    pending = Sync.objects.create(
        site=site, synced_instance_uri="/opportunities/imports/1", status=SyncStatus.PENDING, created_by="tester"
    )
    ended = Sync.objects.create(
        site=site, synced_instance_uri="/contacts/imports/2", status=SyncStatus.WARNING, created_by="tester",
        callback_url="https://hooks.example.com/done", sync_started_at=when, sync_ended_at=when,
    )  # fmt: skip
    active = Sync.objects.create(
        site=site, synced_instance_uri="/accounts/imports/3", status=SyncStatus.ACTIVE, created_by="tester",
        sync_started_at=when,
    )  # fmt: skip
    for sync in (pending, ended, active):
        _check(components, SYNC, SYNC.render(sync))
        _check(components, SYNC_DETAIL, SYNC_DETAIL.render(sync))
    assert "syncStartedAt" not in SYNC.render(pending) and "callbackUrl" not in SYNC.render(pending)
    assert SYNC.render(ended)["syncEndedAt"] == "2026-01-02T03:04:05.1234560Z"
    assert callback_body(ended) == SYNC.render(ended)  # the door registered the callback's body

    logs = [
        SyncLog.objects.create(
            sync=ended, severity=Severity.INFORMATION, status_code="ELQ-00001", message="Total records processed."
        ),
        SyncLog.objects.create(
            sync=ended, severity=Severity.WARNING, status_code=Code.NOT_PROCESSED.value, message="x", count=3
        ),
    ]
    for log in logs:
        _check(components, SYNC_LOG, SYNC_LOG.render(log, "opportunity"))
    assert SYNC_LOG.render(logs[1], "opportunity")["statusCode"] == Code.TEMPORARY_ERROR.value

    reject = Reject.objects.create(
        sync=ended, record_index=1, field_values={"A": "1", "B": None}, invalid_fields=["A"],
        status_code=Code.CANCELLED.value, message="cancelled",
    )  # fmt: skip
    answer = REJECT.render(reject, "opportunity")
    _check(components, REJECT, answer)
    assert (answer["statusCode"], answer["message"]) == Code.TEMPORARY_ERROR.pair


@pytest.mark.django_db
@pytest.mark.parametrize("entity", ["opportunity", "contact", "account"])
def test_rendered_fields_are_valid_against_their_component(components, entity):
    spec = entity_spec(entity)
    for field in spec.fields_for(SiteFactory()):
        answer = FIELD.render(field, spec.fields_uri)
        _check(components, FIELD, answer)
        assert answer["uri"] == f"{spec.fields_uri}/{field.id}"
