"""The Eloqua door's answers, each defined once (`kernel.shapes`): what renders it is what the schema shows.

`FIELD` renders `/{entity}/fields[/{id}]` (the context `ctx` is the entity's fields uri);
`SYNC` (and `SYNC_DETAIL`, with `progress`) render every sync this door answers and the body of a
sync's callback (registered with `pipeline.callbacks.register_body` in `doors/eloqua/apps.py`);
`*_IMPORT` render each entity's import definitions (`DEFINITION_SHAPES`, by entity);
`SYNC_LOG` and `REJECT` render `/syncs/{id}/logs` and `/rejects`, with our codes answered as Eloqua's
(`doors.eloqua.codes.as_eloqua`; the context `ctx` is the sync's entity).
"""

from __future__ import annotations

from rest_framework import serializers

from doors.eloqua.codes import as_eloqua
from doors.eloqua.schema.shapes import (
    DEFINITION_URI_PATTERN,
    DURATION_PATTERN,
    ELOQUA_STATUS_CODE_PATTERN,
    SYNC_URI_PATTERN,
    FieldMapField,
    FieldValuesField,
    RuleMapField,
    uri_field,
    wire_time_field,
)
from entities.contacts.catalog import ACCOUNT, CONTACT
from entities.linkage.catalog import OPPORTUNITY_LINK
from entities.opportunities.catalog import OPPORTUNITY
from kernel.shapes import Member, Shape
from pipeline.definitions import definition_uri, wire_time
from pipeline.models import DataType, ImportRule, SyncStatus, UpdateRule

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

# --- import definitions ----------------------------------------------------------------------

# Every definition's members after `name` and `fields`: the optional ones only once set (never
# null), `identifierFieldName` always (null when a linkage definition leaves it to its match field).
_DEFINITION_TAIL = [
    Member(
        "identifierFieldName",
        serializers.CharField(allow_null=True, help_text="The key mapped to the entity's identifier."),
        attr="identifier_field_name",
    ),
    Member("updateRule", serializers.ChoiceField(choices=UpdateRule.choices, required=False), attr="update_rule"),
    Member("updateRuleByField", RuleMapField(required=False), attr="update_rule_by_field"),
    Member("importRule", serializers.ChoiceField(choices=ImportRule.choices, required=False), attr="import_rule"),
    Member("isSyncTriggeredOnImport", serializers.BooleanField(), attr="is_sync_triggered_on_import"),
    Member(
        "isUpdatingMultipleMatchedRecords",
        serializers.BooleanField(required=False),
        attr="is_updating_multiple_matched_records",
    ),
    Member("nullIdentifierFieldName", serializers.BooleanField(required=False), attr="null_identifier_field_name"),
    Member("dataRetentionDuration", serializers.RegexField(DURATION_PATTERN), attr="data_retention_duration"),
    Member("autoDeleteDuration", serializers.RegexField(DURATION_PATTERN, required=False), attr="auto_delete_duration"),
    Member("importPriorityUri", serializers.CharField(required=False), attr="import_priority_uri"),
    Member("externalSystemId", serializers.IntegerField(required=False), attr="external_system_id"),
    Member(
        "kbUsed",
        serializers.IntegerField(min_value=0, help_text="KB of staged rows no sync has taken yet."),
        read=lambda d, ctx: getattr(d, "kb_used", 0),
    ),
]


def _definition_members(uri_pattern: str) -> list[Member]:
    return [
        Member("uri", uri_field(uri_pattern), read=lambda d, ctx: definition_uri(d)),
        Member("createdBy", serializers.CharField(), attr="created_by"),
        Member("createdAt", wire_time_field(), attr="created_at", convert=wire_time),
        Member("updatedBy", serializers.CharField(), attr="updated_by"),
        Member("updatedAt", wire_time_field(), attr="updated_at", convert=wire_time),
    ]


_NAME_AND_FIELDS = [
    Member("name", serializers.CharField(max_length=100)),
    Member(
        "fields",
        FieldMapField(help_text="The client's keys and statements, as sent."),
        read=lambda d, ctx: dict(d.fields),
    ),
]
_DOC = "An import definition: its optional properties only once set, never null."


def _case_sensitive_when_true(definition, ctx):
    return True if definition.is_identifier_field_case_sensitive else None


def _flat_import(ref_name: str, uri_pattern: str) -> Shape:
    """Contacts and accounts: `isIdentifierFieldCaseSensitive` after `fields`, only when true."""
    case = Member(
        "isIdentifierFieldCaseSensitive",
        serializers.BooleanField(required=False, help_text="Only when true."),
        read=_case_sensitive_when_true,
    )
    return Shape(ref_name, [*_NAME_AND_FIELDS, case, *_DEFINITION_TAIL, *_definition_members(uri_pattern)], doc=_DOC)


OPPORTUNITY_IMPORT = Shape(
    "OpportunityImport",
    [
        Member("isIdentifierFieldCaseSensitive", serializers.BooleanField(), attr="is_identifier_field_case_sensitive"),
        *_NAME_AND_FIELDS,
        *_DEFINITION_TAIL,
        *_definition_members(r"^/opportunities/imports/\d+$"),
    ],
    doc=_DOC,
)
CONTACT_IMPORT = _flat_import("ContactImport", r"^/contacts/imports/\d+$")
ACCOUNT_IMPORT = _flat_import("AccountImport", r"^/accounts/imports/\d+$")
OPPORTUNITY_CONTACT_LINKAGE_IMPORT = Shape(
    "OpportunityContactLinkageImport",
    [
        Member("linkOpportunitiesMatchFieldName", serializers.CharField(), attr="link_match_field_name"),
        Member("linkOpportunitiesSourceField", serializers.CharField(), attr="link_source_field"),
        Member(
            "linkOpportunitiesEntityType",
            serializers.ChoiceField(choices=["Contact", "Account"]),
            attr="link_entity_type",
        ),
        Member(
            "linkOpportunitiesCaseSensitiveSourceField",
            serializers.BooleanField(),
            attr="link_case_sensitive_source_field",
        ),
        Member(
            "linkOpportunitiesCaseSensitiveMatchField",
            serializers.BooleanField(),
            attr="link_case_sensitive_match_field",
        ),
        Member(
            "linkOpportunitiesMultipleSourceMatches", serializers.BooleanField(), attr="link_multiple_source_matches"
        ),
        *_NAME_AND_FIELDS,
        *_DEFINITION_TAIL,
        *_definition_members(r"^/opportunities/contacts/imports/\d+$"),
    ],
    doc=_DOC,
)
DEFINITION_SHAPES = {
    OPPORTUNITY.entity: OPPORTUNITY_IMPORT,
    CONTACT.entity: CONTACT_IMPORT,
    ACCOUNT.entity: ACCOUNT_IMPORT,
    OPPORTUNITY_LINK.entity: OPPORTUNITY_CONTACT_LINKAGE_IMPORT,
}

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
