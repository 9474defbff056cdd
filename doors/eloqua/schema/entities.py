"""What differs per entity in the shared entity views: names, definition shapes, examples."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from drf_spectacular.utils import OpenApiExample, OpenApiRequest, OpenApiResponse

from doors.eloqua.schema.shapes import (
    DATA_CSV_SCHEMA,
    DATA_JSON_SCHEMA,
    WIRE_TIME_EXAMPLE,
    AccountImportRequestSerializer,
    ContactImportRequestSerializer,
    OpportunityContactLinkageImportRequestSerializer,
    OpportunityImportRequestSerializer,
    page_of,
)
from doors.eloqua.shapes import (
    ACCOUNT_IMPORT,
    CONTACT_IMPORT,
    FIELD,
    OPPORTUNITY_CONTACT_LINKAGE_IMPORT,
    OPPORTUNITY_IMPORT,
    SYNC,
)
from entities.contacts.catalog import ACCOUNT, CONTACT
from entities.linkage.catalog import OPPORTUNITY_LINK
from entities.opportunities.catalog import OPPORTUNITY

_STAMPS = {
    "createdBy": "API.User",
    "createdAt": WIRE_TIME_EXAMPLE,
    "updatedBy": "API.User",
    "updatedAt": WIRE_TIME_EXAMPLE,
}


@dataclass(frozen=True)
class _Entity:
    slug: str  # operation id prefix
    tag: str
    noun: str
    nouns: str
    uri: str  # the definition uri prefix
    definition: type
    request: type
    fields: dict  # an example definition's fields
    identifier: str
    extra: dict  # example properties beyond the common ones
    field_example: dict | None  # an example of /fields (None: this entity has no field routes)
    rows: list  # example upload rows


_ENTITIES = {
    OPPORTUNITY.entity: _Entity(
        slug="opportunity",
        tag="Bulk: opportunities",
        noun="opportunity",
        nouns="opportunities",
        uri="/opportunities/imports",
        definition=OPPORTUNITY_IMPORT.serializer,
        request=OpportunityImportRequestSerializer,
        fields={
            "OpportunityID": "{{Opportunity.Id}}",
            "OpportunityName": "{{Opportunity.Field(Name)}}",
            "Stage": "{{Opportunity.Field(Stage)}}",
            "Amount": "{{Opportunity.Field(Amount)}}",
            "CloseDate": "{{Opportunity.Field(CloseDate)}}",
        },
        identifier="OpportunityID",
        extra={"isIdentifierFieldCaseSensitive": False},
        field_example={
            "name": "Opportunity ID",
            "internalName": "RemoteOpportunityID",
            "dataType": "string",
            "hasReadOnlyConstraint": False,
            "hasNotNullConstraint": True,
            "hasUniquenessConstraint": False,
            "statement": "{{Opportunity.Id}}",
            "uri": "/opportunities/fields/1",
        },
        rows=[
            {
                "OpportunityID": "1",
                "OpportunityName": "Acme renewal",
                "Stage": "Prospecting",
                "Amount": "1000000",
                "CloseDate": "2017-10-05 1:15",
            },
        ],
    ),  # fmt: skip
    CONTACT.entity: _Entity(
        slug="contact",
        tag="Bulk: contacts",
        noun="contact",
        nouns="contacts",
        uri="/contacts/imports",
        definition=CONTACT_IMPORT.serializer,
        request=ContactImportRequestSerializer,
        fields={
            "EmailAddress": "{{Contact.Field(C_EmailAddress)}}",
            "FirstName": "{{Contact.Field(C_FirstName)}}",
            "LastName": "{{Contact.Field(C_LastName)}}",
            "CompanyIDExt": "{{Contact.Account.Field(CompanyIDExt)}}",
        },
        identifier="EmailAddress",
        extra={},
        field_example={
            "name": "Email Address",
            "internalName": "C_EmailAddress",
            "dataType": "emailAddress",
            "hasReadOnlyConstraint": False,
            "hasNotNullConstraint": False,
            "hasUniquenessConstraint": True,
            "statement": "{{Contact.Field(C_EmailAddress)}}",
            "uri": "/contacts/fields/100001",
        },
        rows=[{"EmailAddress": "ann@acme.example", "FirstName": "Ann", "LastName": "Lee", "CompanyIDExt": "A-1"}],
    ),
    ACCOUNT.entity: _Entity(
        slug="account",
        tag="Bulk: accounts",
        noun="account",
        nouns="accounts",
        uri="/accounts/imports",
        definition=ACCOUNT_IMPORT.serializer,
        request=AccountImportRequestSerializer,
        fields={
            "CompanyIDExt": "{{Account.Field(CompanyIDExt)}}",
            "CompanyName": "{{Account.Field(M_CompanyName)}}",
            "Domain": "{{Account.Field(M_Domain)}}",
        },
        identifier="CompanyIDExt",
        extra={},
        field_example={
            "name": "Company Name",
            "internalName": "M_CompanyName",
            "dataType": "string",
            "hasReadOnlyConstraint": False,
            "hasNotNullConstraint": True,
            "hasUniquenessConstraint": False,
            "statement": "{{Account.Field(M_CompanyName)}}",
            "uri": "/accounts/fields/200001",
        },
        rows=[{"CompanyIDExt": "A-1", "CompanyName": "Acme", "Domain": "acme.example"}],
    ),
    OPPORTUNITY_LINK.entity: _Entity(
        slug="opportunity_contact_linkage",
        tag="Bulk: opportunity contact linkage",
        noun="opportunity contact linkage",
        nouns="opportunity contact linkages",
        uri="/opportunities/contacts/imports",
        definition=OPPORTUNITY_CONTACT_LINKAGE_IMPORT.serializer,
        request=OpportunityContactLinkageImportRequestSerializer,
        fields={"EmailAddress": "{{Opportunity.Contact.Field(C_EmailAddress)}}", "OpportunityID": "{{Opportunity.Id}}"},
        identifier="OpportunityID",
        extra={
            "linkOpportunitiesEntityType": "Contact",
            "linkOpportunitiesMatchFieldName": "OpportunityID",
            "linkOpportunitiesSourceField": "EmailAddress",
            "linkOpportunitiesCaseSensitiveMatchField": False,
            "linkOpportunitiesCaseSensitiveSourceField": False,
            "linkOpportunitiesMultipleSourceMatches": True,
        },
        field_example=None,
        rows=[{"OpportunityID": "1", "EmailAddress": "ann@acme.example"}],
    ),
}


class EntityDoc:
    """The per-entity schema objects `entity_schema` operations name (`definition`, `field_page`, ...)."""

    def __init__(self, spec: _Entity):
        self.slug, self.tag = spec.slug, spec.tag
        article = "an" if spec.noun[0] in "aeiou" else "a"
        self.words = {"noun": spec.noun, "nouns": spec.nouns, "a_noun": f"{article} {spec.noun}"}
        name = spec.definition.Meta.ref_name
        request_body = {"name": f"{spec.noun.capitalize()} import", "fields": spec.fields, **spec.extra}
        if spec.slug != "opportunity_contact_linkage":
            request_body["identifierFieldName"] = spec.identifier
        echoed = {
            **spec.extra,
            "name": request_body["name"],
            "fields": spec.fields,
            "identifierFieldName": spec.identifier,
            "isSyncTriggeredOnImport": False,
            "dataRetentionDuration": "P7D",
            "kbUsed": 0,
            "uri": f"{spec.uri}/24",
            **_STAMPS,
        }
        self.definition_request = OpenApiRequest(
            spec.request, examples=[OpenApiExample(f"A new {spec.noun} import", value=request_body)]
        )
        self.definition = OpenApiResponse(spec.definition, examples=[OpenApiExample("The definition", value=echoed)])
        self.definition_created = OpenApiResponse(
            spec.definition,
            description="Created; the answer echoes what was set (unset optional properties are omitted).",
            examples=[OpenApiExample("Created", value=echoed)],
        )
        self.definition_page = OpenApiResponse(
            page_of(spec.definition, f"{name}Page"),
            examples=[
                OpenApiExample(
                    "One page",
                    value={"items": [echoed], "totalResults": 1, "limit": 1000, "offset": 0, "count": 1,
                           "hasMore": False},
                )
            ],
        )  # fmt: skip
        if spec.field_example is not None:
            self.field = OpenApiResponse(
                FIELD.serializer, examples=[OpenApiExample("A field", value=spec.field_example)]
            )
            self.field_page = OpenApiResponse(
                page_of(FIELD.serializer, "FieldPage"),
                examples=[
                    OpenApiExample(
                        "One page",
                        value={"items": [spec.field_example], "totalResults": 1, "limit": 1000, "offset": 0,
                               "count": 1, "hasMore": False},
                    )
                ],
            )  # fmt: skip
        csv_header = ",".join(spec.rows[0])
        csv_rows = "\n".join(",".join(str(v) for v in row.values()) for row in spec.rows)
        self.data_request = {
            "application/json": OpenApiRequest(
                DATA_JSON_SCHEMA, examples=[OpenApiExample("Rows as JSON", value=spec.rows)]
            ),
            "text/csv": OpenApiRequest(
                DATA_CSV_SCHEMA, examples=[OpenApiExample("Rows as CSV", value=f"{csv_header}\n{csv_rows}\n")]
            ),
        }
        self.sync_created = OpenApiResponse(
            SYNC.serializer,
            description="Staged, and (the definition has `isSyncTriggeredOnImport`) a sync of it was started.",
            examples=[
                OpenApiExample(
                    "The sync",
                    value={"syncedInstanceUri": f"{spec.uri}/24", "status": "pending",
                           "createdAt": WIRE_TIME_EXAMPLE, "createdBy": "API.User", "uri": "/syncs/10"},
                )
            ],
        )  # fmt: skip


@cache
def entity_doc(entity: str) -> EntityDoc:
    return EntityDoc(_ENTITIES[entity])
