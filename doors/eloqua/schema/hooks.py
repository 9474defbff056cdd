"""drf-spectacular postprocessing: response headers every operation shares become components."""

from __future__ import annotations

import json

from doors.eloqua.schema.autoschema import REQUEST_ID_HEADER, RESPONSE_HEADERS

SHARED_HEADERS = {"X-Request-Id": REQUEST_ID_HEADER, **{k: v for h in RESPONSE_HEADERS.values() for k, v in h.items()}}


def header_components(result: dict, generator, **kwargs) -> dict:
    """Replace each shared header object by a `$ref` to `components/headers` (a fifth of the schema)."""
    used = set()
    for item in result.get("paths", {}).values():
        for operation in item.values():
            for response in operation.get("responses", {}).values() if isinstance(operation, dict) else ():
                for name, header in response.get("headers", {}).items():
                    if SHARED_HEADERS.get(name) == header:
                        response["headers"][name] = {"$ref": f"#/components/headers/{name}"}
                        used.add(name)
    if used:
        result.setdefault("components", {})["headers"] = {name: SHARED_HEADERS[name] for name in sorted(used)}
    return result


STATUS_NAMES = {
    "400": "BadRequest",
    "401": "Unauthorized",
    "404": "NotFound",
    "409": "Conflict",
    "413": "PayloadTooLarge",
    "415": "UnsupportedMediaType",
    "422": "UnprocessableEntity",
    "429": "TooManyRequests",
    "507": "InsufficientStorage",
}


def response_components(result: dict, generator, **kwargs) -> dict:
    """Error answers repeated verbatim across operations become `components/responses` references."""
    seen: dict[tuple[str, str], list[dict]] = {}
    for item in result.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for code, response in operation.get("responses", {}).items():
                if code in STATUS_NAMES:
                    seen.setdefault((code, json.dumps(response, sort_keys=True)), []).append(operation)
    names: dict[str, int] = {}
    components = {}
    for (code, text), operations in sorted(seen.items()):
        if len(operations) < 3:
            continue
        names[code] = names.get(code, 0) + 1
        name = STATUS_NAMES[code] + ("" if names[code] == 1 else str(names[code]))
        components[name] = json.loads(text)
        for operation in operations:
            operation["responses"][code] = {"$ref": f"#/components/responses/{name}"}
    if components:
        result.setdefault("components", {})["responses"] = components
    return result


def closed_answers(result: dict, generator, **kwargs) -> dict:
    """Answer objects list every property they have: `additionalProperties: false` on each answer
    component (request components, named `...Request`, stay open: clients may send more). The
    schemathesis run then fails on a property an answer carries but the schema does not describe."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") or "properties" not in component or "additionalProperties" in component:
            continue
        component["additionalProperties"] = False
    return result


def _error(description: str) -> dict:
    return {
        "description": description,
        "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


METRICS = {
    "get": {
        "operationId": "metrics_retrieve",
        "summary": "Metrics in Prometheus text",
        "description": (
            "Requests by route, status and latency; syncs by status; rows created, updated and rejected; each "
            "running sync's progress, rows/s and ETA; queue depths; callback failures. Off (404) unless "
            "METRICS_TOKEN is set; then for `Authorization: Bearer <METRICS_TOKEN>` only (not an API token). "
            "`Accept: application/openmetrics-text` gets OpenMetrics."
        ),
        "tags": ["Operations"],
        "security": [{"metricsToken": []}],
        "responses": {
            "200": {
                "description": "The metrics.",
                "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
                "content": {
                    "text/plain": {
                        "schema": {"type": "string"},
                        "example": '# TYPE bulk_syncs gauge\nbulk_syncs{status="active"} 1.0\n',
                    },
                    "application/openmetrics-text": {"schema": {"type": "string"}},
                },
            },
            "401": {
                **_error("Missing or wrong METRICS_TOKEN."),
                "headers": {
                    "X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"},
                    "WWW-Authenticate": {"$ref": "#/components/headers/WWW-Authenticate"},
                },
            },
            "404": _error("METRICS_TOKEN is not set: metrics are off."),
        },
    }
}


def plain_django_routes(result: dict, generator, **kwargs) -> dict:
    """Routes served by plain Django views, which drf-spectacular cannot see: `/metrics` (ops)."""
    result["paths"]["/metrics"] = METRICS
    schemes = result.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["metricsToken"] = {"type": "http", "scheme": "bearer", "description": "The METRICS_TOKEN setting."}
    return result
