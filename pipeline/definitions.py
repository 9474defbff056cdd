"""Import definitions on the wire: tolerant parsing, validation into `failures`, and echoing.

Request rules (reference 0.3): `null` means not supplied, read-only and unknown properties are
ignored, booleans may be strings and default to false. Response rules: unset properties are
omitted; the always-echoed ones are listed in `_ALWAYS`.
"""

from __future__ import annotations

import re
from datetime import UTC, timedelta

from kernel.exceptions import Failure, ValidationFailed
from kernel.limits import parse_bounded_int, text_problem
from kernel.models import Site
from pipeline.catalog import EntitySpec, FieldSpec, entity_spec
from pipeline.models import Entity, ImportDefinition, ImportRule, UpdateRule
from pipeline.statements import StatementError, parse_statement

MAX_FIELDS = 100
MAX_KEY_CHARS = 100  # a key of `fields` (a column name), as identifierFieldName
# Longest autoDeleteDuration: ten years (a definition's deletion date must be a real date).
MAX_AUTO_DELETE = timedelta(days=3650)
URI_PREFIX = {
    Entity.OPPORTUNITY: "/opportunities/imports",
    Entity.CONTACT: "/contacts/imports",
    Entity.ACCOUNT: "/accounts/imports",
    Entity.OPPORTUNITY_LINK: "/opportunities/contacts/imports",
    # Internal definitions of the batch upload door: syncs record this uri, the Bulk API does not
    # route it (the _URI pattern below does not match it), so Bulk clients never see them.
    Entity.OPPORTUNITY_BATCH: "/batches/imports",
}
_URI = re.compile(
    r"^(?:/api/bulk/2\.0)?/?(opportunities/contacts|opportunities|contacts|accounts)/imports/(\d{1,18})/?$",
    re.IGNORECASE,
)
# Each number at most 9 digits: durations are bounded where they are used, and a longer number is
# never one anybody means.
_DURATION = re.compile(
    r"^P(?:(?P<w>\d{1,9})W)?(?:(?P<d>\d{1,9})D)?(?:T(?:(?P<h>\d{1,9})H)?(?:(?P<m>\d{1,9})M)?(?:(?P<s>\d{1,9})S)?)?$"
)


def definition_uri(definition: ImportDefinition) -> str:
    return f"{URI_PREFIX[definition.entity]}/{definition.pk}"


def parse_definition_uri(uri: str) -> tuple[str, int] | None:
    """`/opportunities/imports/24` (also with the Bulk prefix or no leading slash) -> (entity, id)."""
    match = _URI.match((uri or "").strip())
    if not match:
        return None
    kind = {v.lstrip("/").split("/imports")[0]: k for k, v in URI_PREFIX.items()}[match.group(1).lower()]
    return kind, int(match.group(2))


def parse_duration(text: str) -> timedelta | None:
    if len(text or "") > 40:  # the stored form (a 40-character column)
        return None
    match = _DURATION.fullmatch(text or "")
    if not match or text in ("P", "PT") or text.endswith("T"):
        return None
    parts = {k: int(v or 0) for k, v in match.groupdict().items()}
    try:
        return timedelta(weeks=parts["w"], days=parts["d"], hours=parts["h"], minutes=parts["m"], seconds=parts["s"])
    except OverflowError:  # beyond timedelta's 999,999,999 days
        return None


def wire_time(value) -> str:
    """Eloqua's timestamp form: UTC, seven fractional digits, `Z`."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _bool(body: dict, key: str, failures: list[Failure]) -> bool | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    failures.append(Failure(field=key, value=value, constraint="Must be a boolean."))
    return None


def _string(body: dict, key: str, failures: list[Failure], max_len: int = 100) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, str) and text_problem(value):
        failures.append(Failure(field=key, value=value, constraint=text_problem(value)))
        return None
    if not isinstance(value, str) or not (1 <= len(value) <= max_len):
        failures.append(
            Failure(
                field=key,
                value=value,
                constraint=f"Must be a string value, at least 1 character and at most {max_len} characters long.",
            )
        )
        return None
    return value


def _enum(body: dict, key: str, choices, failures: list[Failure]) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    for choice in choices.values:
        if isinstance(value, str) and value.lower() == choice.lower():
            return choice
    failures.append(Failure(field=key, value=value, constraint=f"Must be one of {', '.join(choices.values)}."))
    return None


def _fields(
    body: dict, spec: EntitySpec, site: Site, failures: list[Failure]
) -> tuple[list[list[str]], dict[str, FieldSpec]]:
    """Validate `fields`; returns the ordered pairs and key -> resolved catalog field."""
    raw = body.get("fields")
    if not isinstance(raw, dict) or not raw:
        failures.append(Failure(field="fields", constraint="Required: an object of {name: statement}."))
        return [], {}
    if len(raw) > MAX_FIELDS:
        failures.append(
            Failure(field="fields", value=len(raw), constraint=f"At most {MAX_FIELDS} fields per definition.")
        )
        return [], {}
    catalog = spec.lookup(site)
    resolved: dict[str, FieldSpec] = {}
    seen: dict[str, str] = {}
    for key, text in raw.items():
        if not 1 <= len(key) <= MAX_KEY_CHARS or text_problem(key):
            failures.append(
                Failure(
                    field=f"fields.{key}",
                    value=key,
                    constraint=text_problem(key) or f"A field name is 1 to {MAX_KEY_CHARS} characters long.",
                )
            )
            continue
        try:
            statement = parse_statement(text)
        except StatementError as exc:
            failures.append(Failure(field=f"fields.{key}", value=text, constraint=str(exc)))
            continue
        field = catalog.get(statement.key)
        if field is None:
            failures.append(
                Failure(field=f"fields.{key}", value=text, constraint=f"Unknown {spec.statement_root} field statement.")
            )
            continue
        if field.read_only:
            failures.append(Failure(field=f"fields.{key}", value=text, constraint="Field is read-only."))
            continue
        if statement.key in seen:
            failures.append(
                Failure(
                    field=f"fields.{key}", value=text, constraint=f"Statement already mapped by {seen[statement.key]}."
                )
            )
            continue
        clash = next((k for k, f in resolved.items() if f.column == field.column), None)
        if field.column in spec.exclusive_columns and clash is not None:
            failures.append(
                Failure(field=f"fields.{key}", value=text, constraint=f"{clash} already sets the same field.")
            )
            continue
        seen[statement.key] = key
        resolved[key] = field
    for required in spec.required:
        if required not in seen:
            statement = next(f.statement for f in spec.standard if f.key == required)
            failures.append(Failure(field="fields", value=statement, constraint="Required field statement is missing."))
    return [[k, v] for k, v in raw.items()], resolved


MAX_LINK_FIELDS = 2
LINK_ENTITY_TYPES = ("Contact", "Account")


def _linkage(
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
    match = _string(body, "linkOpportunitiesMatchFieldName", failures) or match_default
    source = _string(body, "linkOpportunitiesSourceField", failures) or source_default
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
        link_case_sensitive_match_field=bool(_bool(body, "linkOpportunitiesCaseSensitiveMatchField", failures)),
        link_case_sensitive_source_field=bool(_bool(body, "linkOpportunitiesCaseSensitiveSourceField", failures)),
        link_multiple_source_matches=bool(_bool(body, "linkOpportunitiesMultipleSourceMatches", failures)),
    )
    return match


def validate_definition(*, site: Site, entity: str, body: object) -> dict:
    """Validated model values for an import definition of `entity`, or ValidationFailed."""
    if not isinstance(body, dict):
        raise ValidationFailed([Failure(field="body", constraint="Must be a JSON object.")])
    spec = entity_spec(entity)
    failures: list[Failure] = []
    values: dict = {}
    values["name"] = _string(body, "name", failures)
    if values["name"] is None and not any(f.field == "name" for f in failures):
        failures.append(Failure(field="name", constraint="Required."))
    pairs, resolved = _fields(body, spec, site, failures)
    values["fields"] = pairs
    ident = _string(body, "identifierFieldName", failures)
    if entity == Entity.OPPORTUNITY_LINK:
        ident = _linkage(body, pairs, resolved, ident, values, failures)
    elif ident is None and not any(f.field == "identifierFieldName" for f in failures):
        failures.append(Failure(field="identifierFieldName", constraint="Required."))
    elif ident is not None and pairs:
        if ident not in dict(pairs):
            failures.append(
                Failure(field="identifierFieldName", value=ident, constraint="Must be one of the keys of fields.")
            )
        elif ident in resolved and spec.identifiers and resolved[ident].key not in spec.identifiers:
            allowed = ", ".join(f.statement for f in (*spec.standard, *spec.hidden) if f.key in spec.identifiers)
            failures.append(
                Failure(
                    field="identifierFieldName",
                    value=ident,
                    constraint=f"Must be the field mapped to one of {allowed}.",
                )
            )
        elif ident in resolved and spec.identifier and resolved[ident].key != spec.identifier:
            failures.append(
                Failure(
                    field="identifierFieldName",
                    value=ident,
                    constraint=f"Must be the field mapped to {{{{{spec.statement_root.capitalize()}.Id}}}}.",
                )
            )
    values["identifier_field_name"] = ident
    values["is_identifier_field_case_sensitive"] = entity != Entity.OPPORTUNITY_LINK and bool(
        _bool(body, "isIdentifierFieldCaseSensitive", failures)
    )
    values["update_rule"] = _enum(body, "updateRule", UpdateRule, failures)
    by_field = body.get("updateRuleByField")
    if by_field is not None:
        if not isinstance(by_field, dict):
            failures.append(Failure(field="updateRuleByField", constraint="Must be an object of {field: rule}."))
            by_field = None
        elif len(by_field) > MAX_FIELDS:
            failures.append(
                Failure(field="updateRuleByField", value=len(by_field), constraint=f"At most {MAX_FIELDS} fields.")
            )
        else:
            keys = dict(pairs)
            for key, rule in by_field.items():
                name = f"updateRuleByField.{key}"
                if key not in keys:
                    failures.append(Failure(field=name, value=key, constraint="Not a key of fields."))
                _enum({name: rule}, name, UpdateRule, failures)
    values["update_rule_by_field"] = by_field
    values["import_rule"] = _enum(body, "importRule", ImportRule, failures)
    values["is_sync_triggered_on_import"] = bool(_bool(body, "isSyncTriggeredOnImport", failures))
    values["is_updating_multiple_matched_records"] = _bool(body, "isUpdatingMultipleMatchedRecords", failures)
    values["null_identifier_field_name"] = _bool(body, "nullIdentifierFieldName", failures)
    retention = body.get("dataRetentionDuration") or "P7D"
    delta = parse_duration(retention) if isinstance(retention, str) else None
    if delta is None or not timedelta(hours=1) <= delta <= timedelta(days=14):
        failures.append(
            Failure(
                field="dataRetentionDuration",
                value=retention,
                constraint="Must be an ISO 8601 duration from PT1H to P14D.",
            )
        )
    else:
        values["data_retention_duration"] = retention
        values["data_retention_seconds"] = int(delta.total_seconds())
    auto = body.get("autoDeleteDuration")
    values["auto_delete_duration"] = None
    if auto is not None:
        delta = parse_duration(auto) if isinstance(auto, str) else None
        if delta is None or not timedelta(hours=1) <= delta <= MAX_AUTO_DELETE:
            failures.append(
                Failure(
                    field="autoDeleteDuration",
                    value=auto,
                    constraint="Must be an ISO 8601 duration from PT1H to P3650D.",
                )
            )
        else:
            values["auto_delete_duration"] = auto
            values["_auto_delete_delta"] = delta
    priority = body.get("importPriorityUri")
    values["import_priority_uri"] = None
    if priority is not None:
        if not (isinstance(priority, str) and re.fullmatch(r"/imports/priorities/[1-9]", priority)):
            failures.append(Failure(field="importPriorityUri", value=priority, constraint="Unknown import priority."))
        else:
            values["import_priority_uri"] = priority
    ext = body.get("externalSystemId")
    values["external_system_id"] = None
    if ext is not None:
        values["external_system_id"] = parse_bounded_int(ext)
        if values["external_system_id"] is None:
            failures.append(
                Failure(
                    field="externalSystemId",
                    value=ext,
                    constraint="Must be an integer from -9223372036854775808 to 9223372036854775807.",
                )
            )
    if failures:
        raise ValidationFailed(failures)
    return values


_ALWAYS = (
    "name",
    "fields",
    "identifierFieldName",
    "isSyncTriggeredOnImport",
    "dataRetentionDuration",
)


def render_definition(definition: ImportDefinition) -> dict:
    out: dict = {}
    if definition.entity == Entity.OPPORTUNITY:
        out["isIdentifierFieldCaseSensitive"] = definition.is_identifier_field_case_sensitive
    if definition.entity == Entity.OPPORTUNITY_LINK:
        out.update(
            linkOpportunitiesMatchFieldName=definition.link_match_field_name,
            linkOpportunitiesSourceField=definition.link_source_field,
            linkOpportunitiesEntityType=definition.link_entity_type,
            linkOpportunitiesCaseSensitiveSourceField=definition.link_case_sensitive_source_field,
            linkOpportunitiesCaseSensitiveMatchField=definition.link_case_sensitive_match_field,
            linkOpportunitiesMultipleSourceMatches=definition.link_multiple_source_matches,
        )
    out["name"] = definition.name
    out["fields"] = dict(definition.fields)
    if definition.entity != Entity.OPPORTUNITY and definition.is_identifier_field_case_sensitive:
        out["isIdentifierFieldCaseSensitive"] = True
    optional = {
        "identifierFieldName": definition.identifier_field_name,
        "updateRule": definition.update_rule,
        "updateRuleByField": definition.update_rule_by_field,
        "importRule": definition.import_rule,
        "isSyncTriggeredOnImport": definition.is_sync_triggered_on_import,
        "isUpdatingMultipleMatchedRecords": definition.is_updating_multiple_matched_records,
        "nullIdentifierFieldName": definition.null_identifier_field_name,
        "dataRetentionDuration": definition.data_retention_duration,
        "autoDeleteDuration": definition.auto_delete_duration,
        "importPriorityUri": definition.import_priority_uri,
        "externalSystemId": definition.external_system_id,
    }
    for key, value in optional.items():
        if value is not None or key in _ALWAYS:
            out[key] = value
    kb = getattr(definition, "kb_used", None)
    if kb is not None:
        out["kbUsed"] = kb
    out.update(
        uri=definition_uri(definition),
        createdBy=definition.created_by,
        createdAt=wire_time(definition.created_at),
        updatedBy=definition.updated_by,
        updatedAt=wire_time(definition.updated_at),
    )
    return out
