"""Domain errors and the one exception handler that renders every error in one wire shape.

Every error body is `{"code": ..., "message": ..., "failures": [{"field", "value", "constraint"}]}`:
Eloqua's `failures` (which Bulk clients surface verbatim) plus a stable machine `code`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    DisallowedHost,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework import status
from rest_framework.response import Response

logger = logging.getLogger(__name__)

# Longest `value` an error echoes: the offending value is shown, not a megabyte of it.
ECHO_MAX_CHARS = 1000


def echo(value: object) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > ECHO_MAX_CHARS:
        return f"{text[:ECHO_MAX_CHARS]}... ({len(text)} characters)"
    return text


@dataclass(frozen=True)
class Failure:
    field: str
    constraint: str
    value: object = None
    row: int | None = None

    def as_dict(self) -> dict:
        out: dict = {"field": self.field}
        if self.row is not None:
            out["row"] = self.row
        if self.value is not None:
            out["value"] = echo(self.value)
        out["constraint"] = self.constraint
        return out


class BulkError(Exception):
    """A domain error with a stable code, an HTTP status and named failures."""

    status_code = status.HTTP_400_BAD_REQUEST
    code = "validation_error"
    message = "There was a validation error."
    # Members of the error body beyond code, message and failures (machine-readable details).
    extra: dict = {}

    def __init__(self, failures: list[Failure] | None = None, message: str | None = None):
        self.failures = failures or []
        if message:
            self.message = message
        super().__init__(self.message)

    def body(self) -> dict:
        return {**error_body(self.code, self.message, [f.as_dict() for f in self.failures]), **self.extra}


class ValidationFailed(BulkError):
    pass


class PayloadTooLarge(BulkError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    code = "payload_too_large"
    message = "Storage space exceeded."


class QuotaExceeded(PayloadTooLarge):
    """A site's storage quota (pipeline.quotas) refuses the request; nothing of it is stored.

    413 when this request is what does not fit (its rows, bytes or file, added to what the site
    stores, would pass the limit: Eloqua's "Storage space exceeded." for a full staging area); 507
    when the site is at or past the limit already, before this request adds anything. The body
    names the quota, its limit, the current use and (when known) what the request would add."""

    code = "quota_exceeded"

    def __init__(self, *, quota: str, limit: int, used: int, requested: int | None = None, constraint: str):
        full = used >= limit
        self.status_code = status.HTTP_507_INSUFFICIENT_STORAGE if full else status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
        super().__init__([Failure(field=quota, value=requested, constraint=constraint)])
        details = {"name": quota, "limit": limit, "used": used}
        if requested is not None:
            details["requested"] = requested
        self.extra = {"quota": details}


class Conflict(BulkError):
    status_code = status.HTTP_409_CONFLICT
    code = "conflict"
    message = "There was a conflict."


class NotFound(BulkError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"
    message = "Not found."


class BadRequestError(BulkError):
    """A request the server cannot read at all (framing, form limits, host): 400 with its own code."""

    code = "bad_request"
    message = "The request could not be read."

    def __init__(self, failures: list[Failure] | None = None, message: str | None = None, code: str | None = None):
        super().__init__(failures, message)
        if code:
            self.code = code


class IncompleteBody(BadRequestError):
    """The body ended before its Content-Length (or its last chunk): the client went away or lied.
    Raised from inside the body stream, so whatever was reading it rolls back."""

    code = "incomplete_body"
    message = "The request body is incomplete."


def django_error(exc: Exception) -> BulkError | None:
    """Our error for the exceptions Django raises on unreadable requests (else a 400 HTML page)."""
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return PayloadTooLarge(
            [Failure(field="body", constraint=f"The request body exceeds {limit} bytes.")],
            message="The request body is too large.",
        )
    if isinstance(exc, TooManyFieldsSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return BadRequestError(
            [Failure(field="body", constraint=f"At most {limit} parameters or form fields.")], code="too_many_fields"
        )
    if isinstance(exc, TooManyFilesSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
        return BadRequestError([Failure(field="body", constraint=f"At most {limit} files.")], code="too_many_files")
    if isinstance(exc, DisallowedHost):
        return BadRequestError(
            [Failure(field="Host", constraint="This server does not answer to that host name.")],
            code="disallowed_host",
        )
    if isinstance(exc, SuspiciousOperation | BadRequest):
        return BadRequestError()
    return None


def error_body(code: str, message: str, failures: list[dict] | None = None) -> dict:
    body = {"code": code, "message": message}
    if failures:
        body["failures"] = failures
    return body


def _flatten(detail, prefix: str = "") -> list[dict]:
    """DRF's nested error detail -> flat failures naming the dotted field."""
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            if isinstance(key, int):  # a ListField's errors, by item index: `tags[2]`, as a body's path is named
                out += _flatten(value, f"{prefix}[{key}]")
                continue
            name = "" if key == "non_field_errors" else str(key)
            out += _flatten(value, f"{prefix}.{name}".strip(".") if name else prefix)
        return out
    if isinstance(detail, list):
        out = []
        for i, item in enumerate(detail):
            if isinstance(item, dict | list) and not isinstance(item, str):
                out += _flatten(item, f"{prefix}[{i}]")
            else:
                out += _flatten(item, prefix)
        return out
    return [{"field": prefix or "body", "constraint": str(detail)}]


_DRF_CODES = {
    drf.NotAuthenticated: "not_authenticated",
    drf.AuthenticationFailed: "authentication_failed",
    drf.PermissionDenied: "permission_denied",
    drf.NotFound: "not_found",
    drf.MethodNotAllowed: "method_not_allowed",
    drf.Throttled: "throttled",
    drf.UnsupportedMediaType: "unsupported_media_type",
    drf.ParseError: "parse_error",
}


def _challenge(request, default: str) -> str:
    """Challenge in the scheme the client tried: Bearer for tokens, Eloqua's Basic otherwise."""
    meta = getattr(request, "META", {})
    from .auth import TOKEN_HEADERS  # auth loads models: imported at call time

    if meta.get("HTTP_AUTHORIZATION", "").lower().startswith("bearer") or any(meta.get(h) for h in TOKEN_HEADERS):
        return 'Bearer realm="api"'
    return default


def exception_handler(exc, context):
    exc = django_error(exc) or exc
    if isinstance(exc, BulkError):
        return Response(exc.body(), status=exc.status_code)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = drf.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    if not isinstance(exc, drf.APIException):
        return None  # unexpected: the middleware logs it and answers a JSON 500
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = _challenge(context.get("request"), exc.auth_header)
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    if isinstance(exc, drf.ValidationError):
        body = error_body("validation_error", "There was a validation error.", _flatten(exc.detail))
    else:
        code = _DRF_CODES.get(type(exc), getattr(exc, "default_code", "error"))
        body = error_body(code, str(exc.detail))
    return Response(body, status=exc.status_code, headers=headers)
