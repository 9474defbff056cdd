"""The OpenAPI schema itself: generated without a warning, complete, its examples true; Swagger UI offline."""

from __future__ import annotations

import copy
import re
from html.parser import HTMLParser

import jsonschema
import pytest
import requests
import yaml
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient
from rest_framework.views import APIView

METHODS = ("get", "post", "put", "patch", "delete")
UNDOCUMENTED = ("admin/", "api/schema", "api/docs/")  # the schema and its viewer, and Django admin
BODYLESS = ("/cancel", "/retry")  # POSTs that take no body


@pytest.fixture(scope="module")
def schema():
    """Generated in-process, after clearing drf-spectacular's record of warnings and errors."""
    GENERATOR_STATS.reset()
    generated = SchemaGenerator().get_schema(request=None, public=True)
    generated["_stats"] = {"warnings": dict(GENERATOR_STATS._warn_cache), "errors": dict(GENERATOR_STATS._error_cache)}
    return generated


def test_generation_emits_no_warning_or_error_and_the_schema_is_valid_openapi(schema):
    stats = schema.pop("_stats")
    assert stats == {"warnings": {}, "errors": {}}
    validate_schema(schema)  # OpenAPI 3 meta-schema


def test_serving_the_schema_logs_nothing(db, caplog):
    GENERATOR_STATS.reset()
    response = APIClient().get("/api/schema")
    assert response.status_code == 200
    assert not GENERATOR_STATS
    assert [r for r in caplog.records if r.levelname in ("WARNING", "ERROR")] == []


def _routes(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def _openapi_path(route: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: "{" + {"pk": "id"}.get(m.group(1), m.group(1)) + "}", route)


def test_every_route_and_method_is_an_operation_of_the_schema(schema):
    """Every route the server answers (but admin and the docs themselves) is documented, every method."""
    missing = []
    for route, callback in _routes(get_resolver().url_patterns):
        if route.startswith(UNDOCUMENTED):
            continue
        view = getattr(callback, "cls", None)
        path = _openapi_path(route)
        if view is None or not issubclass(view, APIView):  # a plain Django view: hooks.plain_django_routes
            if "get" not in schema["paths"].get(path, {}):
                missing.append(f"GET {path} (a plain Django view)")
            continue
        for method in METHODS:
            served = hasattr(view, method) and method in view.http_method_names
            if served and method not in schema["paths"].get(path, {}):
                missing.append(f"{method.upper()} {path}")
    assert missing == []


def _deref(node, schema):
    """A `$ref` to components/responses or components/headers, resolved (recursively)."""
    if isinstance(node, dict):
        if "$ref" in node and node["$ref"].startswith(("#/components/responses/", "#/components/headers/")):
            _, _, kind, name = node["$ref"].split("/")
            return _deref(schema["components"][kind][name], schema)
        return {k: _deref(v, schema) for k, v in node.items()}
    return node


def _operations(schema):
    """(label, operation) with its answers' `$ref`s resolved."""
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", {**operation, "responses": _deref(operation["responses"], schema)}


def test_every_operation_has_an_id_a_summary_and_its_answers_documented(schema):
    problems = []
    for label, operation in _operations(schema):
        responses = operation["responses"]
        if not operation.get("summary"):
            problems.append(f"{label}: no summary")
        if not any(code.startswith("2") for code in responses):
            problems.append(f"{label}: no success answer")
        for code, response in responses.items():
            if code.startswith("2") and code != "204" and not response.get("content"):
                problems.append(f"{label} {code}: no body schema")
            if code.startswith("4"):
                body = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "none")
                # CapillaryError: the Capillary door's envelope (`success: false`), as its document's answers are
                if body.rsplit("/", 1)[1] not in (
                    "Error",
                    "BatchError",
                    "TokenError",
                    "TokenBadRequest",
                    "CapillaryError",
                ):
                    problems.append(f"{label} {code}: answers {body}, not our error body")
        writes = label.split()[0] in ("POST", "PUT", "PATCH") and not label.endswith(BODYLESS)
        if writes and "requestBody" not in operation:
            problems.append(f"{label}: no request body")
    assert problems == []


def test_error_answers_follow_from_the_operation(schema):
    for label, operation in _operations(schema):
        codes = set(operation["responses"])
        schemes = {name for requirement in operation.get("security", []) for name in requirement}
        if schemes & {"basicAuth", "bearerAuth", "apiKeyAuth"} and {} not in operation["security"]:
            assert {"401", "429"} <= codes, label  # our authentication throttles repeated failures
        if "{" in label:
            assert "404" in codes, label
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= codes or label == "POST /auth/oauth2/token", label


def _json_schema(node, document):
    """OpenAPI 3.0 schema object -> JSON Schema (`nullable`, boolean exclusive bounds; $refs resolved)."""
    node = copy.deepcopy(node)
    if "$ref" in node:
        return _json_schema(document["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]], document)
    for key in ("properties", "patternProperties"):
        if key in node:
            node[key] = {k: _json_schema(v, document) for k, v in node[key].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            node[key] = _json_schema(node[key], document)
    for key in ("oneOf", "anyOf", "allOf"):
        if key in node:
            node[key] = [_json_schema(v, document) for v in node[key]]
    for bound in ("Maximum", "Minimum"):  # OpenAPI 3.0's boolean exclusive bounds
        if node.get(f"exclusive{bound}") is True:
            node[f"exclusive{bound}"] = node.pop(bound.lower())
        elif node.get(f"exclusive{bound}") is False:
            del node[f"exclusive{bound}"]
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


def _examples(schema):
    """(where, example value, its schema) for every example of a request or response body."""
    for label, operation in _operations(schema):
        bodies = [("request", operation.get("requestBody", {}))] + list(operation["responses"].items())
        for code, body in bodies:
            for media_type, content in body.get("content", {}).items():
                for name, example in content.get("examples", {}).items():
                    yield f"{label} {code} {media_type} {name}", example["value"], content["schema"]


def test_every_example_matches_its_schema(schema):
    checked = 0
    for where, value, body_schema in _examples(schema):
        validator = jsonschema.Draft7Validator(_json_schema(body_schema, schema))
        errors = [e.message for e in validator.iter_errors(value)]
        assert errors == [], where
        checked += 1
    assert checked > 100


def test_every_operation_shows_an_example_of_its_answer_and_of_its_body(schema):
    missing = []
    for label, operation in _operations(schema):
        for code, response in operation["responses"].items():
            for media_type, content in response.get("content", {}).items():
                if code.startswith("2") and media_type == "application/json" and not content.get("examples"):
                    missing.append(f"{label} {code}")
        for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
            if media_type != "multipart/form-data" and not content.get("examples"):
                missing.append(f"{label} request {media_type}")
    assert missing == []


class _Assets(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("src", "href"):
            if tag in ("script", "link", "img") and attrs.get(key):
                self.urls.append(attrs[key])


@pytest.mark.django_db(transaction=True)
def test_swagger_ui_loads_from_this_server_only(live_server):
    """No CDN: every script, stylesheet and icon of /api/docs/ is one of our static files."""
    page = requests.get(f"{live_server.url}/api/docs/", timeout=30)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assets = _Assets()
    assets.feed(page.text)
    assert len(assets.urls) >= 3  # bundle, standalone preset, stylesheet
    assert not re.search(r"(?<![\w/])(https?:)?//(?!localhost|127\.0\.0\.1)[\w.-]+\.\w+", page.text), "an external URL"
    for url in assets.urls:
        assert url.startswith("/static/"), url
        asset = requests.get(f"{live_server.url}{url}", timeout=30)
        assert asset.status_code == 200 and len(asset.content) > 100, url
    assert "/api/schema" in page.text


def test_the_served_schema_is_the_generated_one(db):
    served = yaml.safe_load(APIClient().get("/api/schema").content)
    assert "/auth/oauth2/token" in served["paths"] and "/api/bulk/2.0/syncs/{id}/rejects" in served["paths"]


def test_every_tag_is_listed_in_order(schema):
    """Swagger UI groups operations by the settings' TAGS, in that order: a new tag must be listed."""
    used = {tag for _, operation in _operations(schema) for tag in operation["tags"]}
    assert used <= {tag["name"] for tag in schema["tags"]}


def test_shared_answers_and_headers_are_components(schema):
    """The error answers and headers repeated by every operation are written once."""
    assert {"BadRequest", "Unauthorized", "NotFound", "TooManyRequests"} <= set(schema["components"]["responses"])
    assert {"X-Request-Id", "WWW-Authenticate", "Retry-After"} <= set(schema["components"]["headers"])
    unauthorized = schema["components"]["responses"]["Unauthorized"]
    assert unauthorized["headers"]["WWW-Authenticate"] == {"$ref": "#/components/headers/WWW-Authenticate"}


def test_answers_are_closed_and_requests_open(schema):
    """An answer property the schema does not describe fails the fuzzing; clients may send more."""
    components = schema["components"]["schemas"]
    assert components["Sync"]["additionalProperties"] is False
    assert components["OpportunityImport"]["additionalProperties"] is False
    assert components["OpportunityImport"]["properties"]["fields"]["additionalProperties"] == {"type": "string"}
    assert "additionalProperties" not in components["OpportunityImportRequest"]


@pytest.mark.parametrize(
    "body, content_type, status, error",
    [
        # refused before OAuth (our input bounds): RFC 6749's `error` and our `code` both
        ('{"grant_type": "password", "x": [{"a\\u0000b": 1}]}', "application/json", 400, "invalid_request"),
        ("grant_type=password&username=Demo%5Ca%00b&password=x", "application/x-www-form-urlencoded", 400,
         "invalid_request"),
        # refused by OAuth: no client credentials
        ("grant_type=password&username=Demo%5Cnobody&password=x", "application/x-www-form-urlencoded", 401,
         "invalid_client"),
    ],
)  # fmt: skip
def test_token_refusals_match_the_documented_answer(schema, db, body, content_type, status, error):
    """Each refusal is the documented status with a body its schema describes: a refusal before
    OAuth carries both RFC 6749's `error` and our `code` (the schema once matched neither of the
    closed shapes it listed); OAuth's own 401 is RFC 6749's body, with its challenge, never cached."""
    response = APIClient().generic("POST", "/auth/oauth2/token", body, content_type=content_type)
    assert response.status_code == status, response.content
    documented = schema["paths"]["/auth/oauth2/token"]["post"]["responses"][str(status)]
    body_schema = documented["content"]["application/json"]["schema"]
    validator = jsonschema.Draft7Validator(_json_schema(body_schema, schema))
    answer = response.json()
    assert [e.message for e in validator.iter_errors(answer)] == []
    assert answer["error"] == error
    if status == 400:
        assert answer["code"] == "validation_error" and answer["failures"]
    else:
        assert answer == {"error": "invalid_client"}
        assert response["WWW-Authenticate"] == 'Bearer error="invalid_client"'
        assert response["Cache-Control"] == "no-store"
