"""What a linkage definition carries beyond the common properties (reference 4.2): the
linkOpportunities* properties, validated and rendered for the pipeline (EntitySpec hooks)."""

from __future__ import annotations

from kernel.exceptions import Failure
from pipeline.catalog import FieldSpec
from pipeline.definitions import body_bool, body_string
from pipeline.models import ImportDefinition

MAX_LINK_FIELDS = 2
LINK_ENTITY_TYPES = ("Contact", "Account")


def validate_linkage(
    body: dict, pairs: list[list[str]], resolved: dict[str, FieldSpec], ident: str | None, values: dict, failures: list
) -> str | None:
    """The linkOpportunities* properties (reference 4.2); returns the identifier (= the match field).

    Defaults: match field = the key mapped to {{Opportunity.Id}}, source field = the other key, entity
    type = the kind of the source statement (Contact when there is none), flags false.
    """
    kinds = {}  # key -> "Contact" / "Account" / None ({{Opportunity.Id}})
    for key, field in resolved.items():
        path = field.key.split(".")
        kinds[key] = path[1].capitalize() if len(path) > 2 and path[1] in ("contact", "account") else None
    if len(pairs) > MAX_LINK_FIELDS:
        failures.append(
            Failure(
                field="fields",
                value=str(len(pairs)),
                constraint="At most two fields: {{Opportunity.Id}} and one contact or account field.",
            )
        )
    match_default = next((k for k, kind in kinds.items() if kind is None), None)
    source_default = next((k for k, kind in kinds.items() if kind is not None), None)
    if pairs and len(resolved) == len(pairs) and source_default is None:
        failures.append(Failure(field="fields", constraint="Must contain one contact or account field."))
    match = body_string(body, "linkOpportunitiesMatchFieldName", failures) or match_default
    source = body_string(body, "linkOpportunitiesSourceField", failures) or source_default
    if match is not None and match in resolved and kinds[match] is not None:
        failures.append(
            Failure(
                field="linkOpportunitiesMatchFieldName",
                value=match,
                constraint="Must be the key of fields mapped to {{Opportunity.Id}}.",
            )
        )
    elif match is not None and pairs and match not in dict(pairs):
        failures.append(
            Failure(
                field="linkOpportunitiesMatchFieldName", value=match, constraint="Must be one of the keys of fields."
            )
        )
    if source is not None and source in resolved and kinds[source] is None:
        failures.append(
            Failure(
                field="linkOpportunitiesSourceField", value=source, constraint="Must be a contact or account field."
            )
        )
    elif source is not None and pairs and source not in dict(pairs):
        failures.append(
            Failure(field="linkOpportunitiesSourceField", value=source, constraint="Must be one of the keys of fields.")
        )
    entity_type = body.get("linkOpportunitiesEntityType")
    source_kind = kinds.get(source)
    if entity_type is None:
        entity_type = source_kind or "Contact"
    else:
        canonical = next(
            (t for t in LINK_ENTITY_TYPES if isinstance(entity_type, str) and t.lower() == entity_type.lower()), None
        )
        if canonical is None:
            failures.append(
                Failure(
                    field="linkOpportunitiesEntityType", value=entity_type, constraint="Must be Contact or Account."
                )
            )
        elif source_kind is not None and canonical != source_kind:
            failures.append(
                Failure(
                    field="linkOpportunitiesEntityType",
                    value=entity_type,
                    constraint=f"The source field is a {source_kind.lower()} statement; "
                    f"use {{{{Opportunity.{canonical}.Field(...)}}}} for {canonical}.",
                )
            )
        entity_type = canonical
    if ident is not None and match is not None and ident != match:
        failures.append(
            Failure(
                field="identifierFieldName",
                value=ident,
                constraint="Must be the match field (linkOpportunitiesMatchFieldName).",
            )
        )
    values.update(
        link_entity_type=entity_type,
        link_match_field_name=match,
        link_source_field=source,
        link_case_sensitive_match_field=bool(body_bool(body, "linkOpportunitiesCaseSensitiveMatchField", failures)),
        link_case_sensitive_source_field=bool(body_bool(body, "linkOpportunitiesCaseSensitiveSourceField", failures)),
        link_multiple_source_matches=bool(body_bool(body, "linkOpportunitiesMultipleSourceMatches", failures)),
    )
    return match


def render_linkage(definition: ImportDefinition) -> dict:
    return {
        "linkOpportunitiesMatchFieldName": definition.link_match_field_name,
        "linkOpportunitiesSourceField": definition.link_source_field,
        "linkOpportunitiesEntityType": definition.link_entity_type,
        "linkOpportunitiesCaseSensitiveSourceField": definition.link_case_sensitive_source_field,
        "linkOpportunitiesCaseSensitiveMatchField": definition.link_case_sensitive_match_field,
        "linkOpportunitiesMultipleSourceMatches": definition.link_multiple_source_matches,
    }
