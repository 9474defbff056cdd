"""Import definitions on the wire: tolerant parsing, validation into `failures`, and echoing.

Request rules (reference 0.3): `null` means not supplied, read-only and unknown properties are
ignored, booleans may be strings and default to false. Response rules: unset properties are
omitted; the always-echoed ones are listed in `_ALWAYS`.
"""

from __future__ import annotations

import re
from datetime import UTC, timedelta
from functools import cache

from kernel.exceptions import Failure, ValidationFailed
from kernel.limits import parse_bounded_int, text_problem
from kernel.models import Site
from pipeline.catalog import EntitySpec, FieldSpec, entity_spec, entity_specs
from pipeline.models import ImportDefinition, ImportRule, UpdateRule
from pipeline.statements import StatementError, parse_statement

MAX_FIELDS = 100
MAX_KEY_CHARS = 100  # a key of `fields` (a column name), as identifierFieldName
# Longest autoDeleteDuration: ten years (a definition's deletion date must be a real date).
MAX_AUTO_DELETE = timedelta(days=3650)
# Each number at most 9 digits: durations are bounded where they are used, and a longer number is
# never one anybody means.
_DURATION = re.compile(
    r"^P(?:(?P<w>\d{1,9})W)?(?:(?P<d>\d{1,9})D)?(?:T(?:(?P<h>\d{1,9})H)?(?:(?P<m>\d{1,9})M)?(?:(?P<s>\d{1,9})S)?)?$"
)


def definition_uri(definition: ImportDefinition) -> str:
    return f"{entity_spec(definition.entity).imports_uri}/{definition.pk}"


@cache
def _uri_pattern(prefixes: tuple[str, ...]) -> re.Pattern:
    # Longest first: /opportunities/contacts/imports before /opportunities/imports.
    alternatives = "|".join(re.escape(p.strip("/")) for p in sorted(prefixes, key=len, reverse=True))
    return re.compile(rf"^(?:/api/bulk/2\.0)?/?({alternatives})/(\d{{1,18}})/?$", re.IGNORECASE)


def parse_definition_uri(uri: str) -> tuple[str, int] | None:
    """`/opportunities/imports/24` (also with the Bulk prefix or no leading slash) -> (entity, id),
    for the entities the Bulk API routes (an internal definition's uri, `/batches/imports/7`, is
    not one a client may name)."""
    routed = {spec.imports_uri.strip("/").lower(): spec.entity for spec in entity_specs() if spec.bulk_routed}
    match = _uri_pattern(tuple(routed)).match((uri or "").strip())
    if not match:
        return None
    return routed[match.group(1).lower()], int(match.group(2))


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


def body_bool(body: dict, key: str, failures: list[Failure]) -> bool | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    failures.append(Failure(field=key, value=value, constraint="Must be a boolean."))
    return None


def body_string(body: dict, key: str, failures: list[Failure], max_len: int = 100) -> str | None:
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


def validate_definition(*, site: Site, entity: str, body: object) -> dict:
    """Validated model values for an import definition of `entity`, or ValidationFailed."""
    if not isinstance(body, dict):
        raise ValidationFailed([Failure(field="body", constraint="Must be a JSON object.")])
    spec = entity_spec(entity)
    failures: list[Failure] = []
    values: dict = {}
    values["name"] = body_string(body, "name", failures)
    if values["name"] is None and not any(f.field == "name" for f in failures):
        failures.append(Failure(field="name", constraint="Required."))
    pairs, resolved = _fields(body, spec, site, failures)
    values["fields"] = pairs
    ident = body_string(body, "identifierFieldName", failures)
    if spec.validate_extra is not None:
        ident = spec.validate_extra(body, pairs, resolved, ident, values, failures)
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
    values["is_identifier_field_case_sensitive"] = spec.case_sensitive_flag != "never" and bool(
        body_bool(body, "isIdentifierFieldCaseSensitive", failures)
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
    values["is_sync_triggered_on_import"] = bool(body_bool(body, "isSyncTriggeredOnImport", failures))
    values["is_updating_multiple_matched_records"] = body_bool(body, "isUpdatingMultipleMatchedRecords", failures)
    values["null_identifier_field_name"] = body_bool(body, "nullIdentifierFieldName", failures)
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


def definition_body(definition: ImportDefinition) -> dict:
    """A stored definition as a client would send it again: what `validate_definition` checks when a
    stored definition must still hold (a sync starts, a dry run, a changed custom field). Not an
    answer: each door renders its own (the Eloqua door's `doors.eloqua.shapes.DEFINITION_SHAPES`)."""
    spec = entity_spec(definition.entity)
    body: dict = {"name": definition.name, "fields": dict(definition.fields)}
    if spec.case_sensitive_flag != "never":
        body["isIdentifierFieldCaseSensitive"] = definition.is_identifier_field_case_sensitive
    if spec.render_extra is not None:
        body.update(spec.render_extra(definition))
    body.update(
        identifierFieldName=definition.identifier_field_name,
        updateRule=definition.update_rule,
        updateRuleByField=definition.update_rule_by_field,
        importRule=definition.import_rule,
        isSyncTriggeredOnImport=definition.is_sync_triggered_on_import,
        isUpdatingMultipleMatchedRecords=definition.is_updating_multiple_matched_records,
        nullIdentifierFieldName=definition.null_identifier_field_name,
        dataRetentionDuration=definition.data_retention_duration,
        autoDeleteDuration=definition.auto_delete_duration,
        importPriorityUri=definition.import_priority_uri,
        externalSystemId=definition.external_system_id,
    )
    return body
