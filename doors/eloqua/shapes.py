"""The Eloqua door's answers, each defined once (`kernel.shapes`): what renders it is what the schema shows.

`FIELD` renders `/{entity}/fields[/{id}]` (the context `ctx` is the entity's fields uri);
`SYNC` (and `SYNC_DETAIL`, with `progress`) render every sync this door answers and the body of a
sync's callback (registered with `pipeline.callbacks.register_body` in `doors/eloqua/apps.py`);
`SYNC_LOG` and `REJECT` render `/syncs/{id}/logs` and `/rejects`, with our codes answered as Eloqua's
(`doors.eloqua.codes.as_eloqua`; the context `ctx` is the sync's entity).
"""

from __future__ import annotations

from rest_framework import serializers

from doors.eloqua.codes import as_eloqua
from doors.eloqua.schema.shapes import (
    DEFINITION_URI_PATTERN,
    ELOQUA_STATUS_CODE_PATTERN,
    SYNC_URI_PATTERN,
    FieldValuesField,
    uri_field,
    wire_time_field,
)
from kernel.shapes import Member, Shape
from pipeline.definitions import wire_time
from pipeline.models import DataType, SyncStatus

# --- field metadata --------------------------------------------------------------------------

FIELD = Shape(
    "Field",
    [
        Member("name", serializers.CharField()),
        Member("internalName", serializers.CharField(), attr="internal_name"),
        Member("dataType", serializers.ChoiceField(choices=DataType.choices), attr="data_type"),
        Member("hasReadOnlyConstraint", serializers.BooleanField(), attr="read_only"),
        Member("hasNotNullConstraint", serializers.BooleanField(), attr="not_null"),
        Member("hasUniquenessConstraint", serializers.BooleanField(), attr="unique"),
        Member("statement", serializers.CharField(help_text="The markup statement to map in a definition's `fields`.")),
        Member(
            "uri",
            uri_field(r"^/(opportunities|contacts|accounts)/fields/\d+$"),
            read=lambda field, uri_prefix: f"{uri_prefix}/{field.id}",
        ),
    ],
)

# --- syncs -----------------------------------------------------------------------------------

SYNC_STATUSES = ["pending", "active", "success", "warning", "error"]

SYNC = Shape(
    "Sync",
    [
        Member("syncedInstanceUri", uri_field(DEFINITION_URI_PATTERN), attr="synced_instance_uri"),
        Member("syncStartedAt", wire_time_field(required=False), attr="sync_started_at", convert=wire_time),
        Member("syncEndedAt", wire_time_field(required=False), attr="sync_ended_at", convert=wire_time),
        Member(
            "status",
            serializers.ChoiceField(choices=SYNC_STATUSES, help_text="Only these five, Eloqua's wire strings."),
        ),
        Member("createdAt", wire_time_field(), attr="created_at", convert=wire_time),
        Member("createdBy", serializers.CharField(), attr="created_by"),
        Member(
            "callbackUrl",
            serializers.CharField(required=False, help_text="Called (POST, the sync's JSON) when it ends."),
            attr="callback_url",
        ),
        Member("uri", uri_field(SYNC_URI_PATTERN)),
    ],
    doc="A sync as Eloqua shapes it: `syncStartedAt`/`syncEndedAt`/`callbackUrl` only once they apply.",
)


def _in_flight(sync, ctx) -> int:
    # rows the running chunks have read and not committed yet (moves every 1,000 rows)
    if sync.status != SyncStatus.ACTIVE:
        return 0
    from pipeline.selectors import in_flight_rows

    return in_flight_rows([sync.pk]).get(sync.pk, 0)


SYNC_PROGRESS = Shape(
    "SyncProgress",
    [
        Member(
            "total",
            serializers.IntegerField(min_value=0, help_text="Rows the sync took (its snapshot of staged rows)."),
            attr="total_rows",
        ),
        Member("processed", serializers.IntegerField(min_value=0)),
        Member("rejected", serializers.IntegerField(min_value=0)),
        Member("created", serializers.IntegerField(min_value=0), attr="created_count"),
        Member("updated", serializers.IntegerField(min_value=0), attr="updated_count"),
        Member(
            "inFlight",
            serializers.IntegerField(
                min_value=0,
                help_text="Rows the running chunks have read and not committed yet (moves every 1,000 rows).",
            ),
            read=_in_flight,
        ),
    ],
)

# beyond Eloqua: how far a sync has got
SYNC_DETAIL = SYNC.extend(
    "SyncDetail", [SYNC_PROGRESS.nested("progress", help_text="Beyond Eloqua: how far the sync has got.")], doc=None
)


# --- a sync's logs and rejects -----------------------------------------------------------------


def _code(row, entity) -> str:
    return as_eloqua(row.status_code, row.message, entity)[0]


def _message(row, entity) -> str:
    return as_eloqua(row.status_code, row.message, entity)[1]


SYNC_LOG = Shape(
    "SyncLog",
    [
        Member("syncUri", uri_field(SYNC_URI_PATTERN), read=lambda log, ctx: f"/syncs/{log.sync_id}"),
        Member("count", serializers.IntegerField(min_value=0, help_text="Records the entry is about (0 for events).")),
        Member("severity", serializers.ChoiceField(choices=["information", "warning", "error"])),
        Member(
            "statusCode",
            serializers.RegexField(ELOQUA_STATUS_CODE_PATTERN, help_text="`ELQ-xxxxx`, Eloqua's code."),
            read=_code,
        ),
        Member(
            "message",
            serializers.CharField(help_text="Eloqua's exact text for its codes (clients match on it)."),
            read=_message,
        ),
        Member("createdAt", wire_time_field(), attr="created_at", convert=wire_time),
    ],
)

REJECT = Shape(
    "Reject",
    [
        Member("fieldValues", FieldValuesField(), attr="field_values"),
        Member(
            "invalidFields",
            serializers.ListField(
                child=serializers.CharField(), help_text="Definition keys that caused the rejection."
            ),
            attr="invalid_fields",
        ),
        Member("message", serializers.CharField(), read=_message),
        Member(
            "statusCode",
            serializers.RegexField(ELOQUA_STATUS_CODE_PATTERN, help_text="`ELQ-xxxxx`, Eloqua's code."),
            read=_code,
        ),
        Member(
            "recordIndex",
            serializers.IntegerField(
                min_value=1, help_text="1 = the first row the sync took, counting across every upload it consumed."
            ),
            attr="record_index",
        ),
    ],
)

# The shapes this door renders, for tests/doors/eloqua/test_shapes.py (each against its schema component).
SHAPES = (FIELD, SYNC, SYNC_PROGRESS, SYNC_DETAIL, SYNC_LOG, REJECT)
