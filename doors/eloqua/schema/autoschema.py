"""Our AutoSchema: the error answers and headers of every operation, tags, and the per-entity views.

Errors are added here, once, rather than on each view: the exception handler and the JSON error
middleware give every route the same error body, so which statuses an operation can answer follows
from what it is (authenticated, has path ids, takes a body). A view that answers otherwise (OAuth's
token endpoint, `/id`, `/health`) says so with `openapi_errors`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework.permissions import AllowAny

from doors.eloqua.schema.shapes import IdSerializer, error_response

ERROR_DESCRIPTIONS = {
    "400": "The request is malformed or breaks a rule: `failures` names each field (and row).",
    "401": "Missing, invalid or revoked credentials.",
    "404": "No such object in your site (another site's objects are 404s too).",
    "409": "Conflict with the object's state.",
    "413": "The body is larger than the limit.",
    "415": "The body's Content-Type is not one this operation reads.",
    "429": "Too many failed authentication attempts for this account or from this address; wait `Retry-After` "
    "seconds (no password was checked). Valid tokens are never throttled.",
}

REQUEST_ID_HEADER = {
    "schema": {"type": "string"},
    "required": True,
    "description": "The request's id (yours, if you sent one; else a new UUID), also in our logs.",
}
RESPONSE_HEADERS = {
    "401": {
        "WWW-Authenticate": {
            "schema": {"type": "string"},
            "required": True,
            "description": '`Basic realm="Eloqua"`, or `Bearer realm="api"` when a token was tried.',
        }
    },
    "429": {
        "Retry-After": {"schema": {"type": "integer"}, "required": True, "description": "Seconds to wait."},
    },
}


def _tag(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    if parts[:3] == ["api", "bulk", "2.0"]:
        rest = parts[3:]
        if rest[:2] == ["opportunities", "contacts"]:
            return "Bulk: opportunity contact linkage"
        return f"Bulk: {rest[0]}" if rest else "Bulk"
    if parts[:2] == ["api", "v1"]:
        rest = parts[2:]
        if rest and rest[0].startswith("{"):
            return "Batch upload"
        return f"REST: {rest[0]}" if rest else "REST"
    if parts[:1] == ["v1"]:  # a seed document's own paths: Ruler's batch upload
        return "Batch upload"
    if parts[:2] == ["api", "workspace"]:
        return "Ruddr"
    if parts[:1] in (["id"], ["auth"]):
        return "Login"
    return "Operations"


def _singular(noun: str) -> str:
    return noun[:-3] + "y" if noun.endswith("ies") else noun.removesuffix("s")


def _a(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _default_summary(method: str, path: str) -> str | None:
    """`List contacts`, `Get a contact`, `List a contact's opportunities`, ... for plain resource routes."""
    parts = [p for p in path.split("/") if p][2:] if path.startswith("/api/v1/") else []
    if not parts or parts[0].startswith("{"):
        return None
    noun = parts[0].replace("_", " ")
    if len(parts) == 1:
        return {"GET": f"List {noun}", "POST": f"Create {_a(_singular(noun))}"}.get(method)
    if len(parts) == 2:
        verbs = {"GET": "Get", "PUT": "Replace", "PATCH": "Update", "DELETE": "Delete"}
        return f"{verbs[method]} {_a(_singular(noun))}" + (" (partial)" if method == "PATCH" else "")
    if len(parts) == 3 and method == "GET":
        return f"List {_a(_singular(noun))}'s {parts[2]}"
    return None


class AutoSchema(SpectacularAutoSchema):
    """DEFAULT_SCHEMA_CLASS: adds the error answers each operation can give, in our error body."""

    def get_tags(self) -> list[str]:
        return [_tag(self.path)]

    def get_summary(self) -> str | None:
        return super().get_summary() or _default_summary(self.method, self.path)

    def map_parsers(self) -> list[str]:
        # Bodies are JSON (Eloqua's contract, and the REST API's); an operation that reads another
        # media type (CSV uploads, multipart files, OAuth forms) lists its media types itself.
        return ["application/json"]

    def error_statuses(self, has_body: bool) -> list[str]:
        fixed = getattr(self.view, "openapi_errors", None)
        if fixed is not None:
            return [str(code) for code in fixed]
        codes = ["400"]
        if not any(isinstance(p, AllowAny) for p in self.view.get_permissions()):
            codes += ["401", "429"]
        if "{" in self.path:
            codes.append("404")
        if has_body:
            codes += ["413", "415"]
        return codes

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        has_body = self.method in ("POST", "PUT", "PATCH") and bool(self._get_request_body())
        for code in self.error_statuses(has_body):
            if code not in responses:
                response = error_response(code, ERROR_DESCRIPTIONS.get(code, ""))
                responses[code] = self._get_response_for_code(response, code, ["application/json"], direction)
        return dict(sorted(responses.items()))

    def _get_response_headers_for_code(self, status_code, direction="response"):
        headers = {"X-Request-Id": REQUEST_ID_HEADER, **RESPONSE_HEADERS.get(str(status_code), {})}
        return {**headers, **super()._get_response_headers_for_code(status_code, direction)}


# --- the entity views ------------------------------------------------------------------------


@dataclass(frozen=True)
class EntityOperation:
    """One method of an entity view, with the per-entity parts named by `EntityDoc` attribute."""

    name: str
    summary: str
    description: str = ""
    parameters: Sequence = ()
    request: object = None
    responses: Mapping = field(default_factory=dict)


def entity_schema(
    name: str,
    summary: str,
    *,
    description: str = "",
    parameters: Sequence = (),
    request: object = None,
    responses: Mapping,
) -> Callable:
    """`extend_schema` for the views every entity shares (fields, imports, data).

    `request` and the `responses` values may be the name of an `EntityDoc` attribute (resolved for
    the view's entity); `summary` and `description` may use `{noun}`, `{a_noun}` and `{nouns}`."""
    operation = EntityOperation(name, summary, description, tuple(parameters), request, dict(responses))

    def decorate(method: Callable) -> Callable:
        method.entity_operation = operation
        return method

    return decorate


class EntitySchema(AutoSchema):
    """Schema of a view parameterised by `entity` (one view class serves every importable entity)."""

    def _doc(self):
        from doors.eloqua.schema.entities import entity_doc

        return entity_doc(self.view.entity)

    def _operation(self) -> EntityOperation:
        return getattr(self.view, self.method.lower()).entity_operation

    def _resolve(self, value):
        if isinstance(value, str):
            return getattr(self._doc(), value)
        if isinstance(value, Mapping):
            return {k: self._resolve(v) for k, v in value.items()}
        return value

    def get_operation_id(self) -> str:
        return f"{self._doc().slug}_{self._operation().name}"

    def get_summary(self) -> str:
        return self._operation().summary.format(**self._doc().words)

    def get_description(self) -> str:
        return self._operation().description.format(**self._doc().words)

    def get_tags(self) -> list[str]:
        return [self._doc().tag]

    def get_override_parameters(self) -> list:
        return list(self._operation().parameters)

    def get_request_serializer(self):
        return self._resolve(self._operation().request)

    def get_response_serializers(self):
        return {code: self._resolve(value) for code, value in self._operation().responses.items()}


# --- extensions ------------------------------------------------------------------------------


class EloquaBasicScheme(OpenApiAuthenticationExtension):
    target_class = "kernel.auth.EloquaBasicAuthentication"
    name = "basicAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "basic",
            "description": "Eloqua's Basic: the user name is `Site\\User` (e.g. `Demo\\api`).",
        }


class TokenScheme(OpenApiAuthenticationExtension):
    """An API token or OAuth access token, as `Authorization: Bearer` or as `X-Api-Key` (either one)."""

    target_class = "kernel.auth.TokenAuthentication"
    name = ["bearerAuth", "apiKeyAuth", "capillaryTokenAuth"]

    def get_security_requirement(self, auto_schema):
        return [{"bearerAuth": []}, {"apiKeyAuth": []}, {"capillaryTokenAuth": []}]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "description": "An API token (`createsite --token`) or an OAuth access token (`/auth/oauth2/token`).",
            },
            {"type": "apiKey", "in": "header", "name": "X-Api-Key", "description": "The same tokens, in a header."},
            {
                "type": "apiKey",
                "in": "header",
                "name": "x-cap-api-oauth-token",
                "description": "The same tokens, in Capillary's header (any door accepts it).",
            },
        ]


class IdAnswerExtension(OpenApiSerializerExtension):
    """`GET /id` answers the discovery object, or (as Eloqua does) the JSON string "Not authenticated."."""

    target_class = "doors.eloqua.schema.shapes.IdAnswerSerializer"

    def map_serializer(self, auto_schema, direction):
        return {
            "oneOf": [
                auto_schema.resolve_serializer(IdSerializer, direction).ref,
                {"type": "string", "enum": ["Not authenticated."]},
            ]
        }
