"""Wire rules Django would not follow by itself (reference section 0)."""

from __future__ import annotations

import json
import logging
import re
import uuid

from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpResponse, JsonResponse

from .exceptions import error_body
from .logging import start_log_context

logger = logging.getLogger(__name__)

BULK_PREFIX = "/api/bulk/2.0"
_BULK_RE = re.compile(r"^/api/bulk/2\.0(?=/|$)", re.IGNORECASE)
_SLASHES = re.compile(r"/{2,}")


def canonical_path(path: str) -> str:
    """Collapse `//`, drop a trailing `/`, and lower-case Bulk paths (their ids are integers)."""
    path = _SLASHES.sub("/", path)
    if _BULK_RE.match(path):
        path = path.lower()
    if len(path) > 1 and path.endswith("/") and not path.startswith(("/admin", "/api/docs")):
        path = path.rstrip("/")
    return path


class RequestIdMiddleware:
    """X-Request-Id on every answer, log context, and Eloqua's method/status override headers."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request.META.get("HTTP_X_REQUEST_ID") or str(uuid.uuid4())
        override = request.META.get("HTTP_X_HTTP_METHOD_OVERRIDE", "").upper()
        if request.method in ("POST", "GET") and override in ("PUT", "DELETE", "PATCH", "GET", "POST"):
            request.method = override
        start_log_context(request_id=request_id)
        response = self.get_response(request)
        response["X-Request-Id"] = request_id
        forced = request.META.get("HTTP_X_HTTP_STATUS_CODE_OVERRIDE", "")
        if forced.isdigit() and 100 <= int(forced) <= 599:
            response["X-HTTP-Original-Status-Code"] = str(response.status_code)
            response.status_code = int(forced)
        return response


class BulkPathMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = canonical_path(request.path_info)
        if path != request.path_info:
            request.path_info = path
            request.path = (request.META.get("SCRIPT_NAME", "") or "") + path
        return self.get_response(request)


# Exceptions Django itself turns into 400/403/404 answers (admin's own PermissionDenied among them).
HANDLED_BY_DJANGO = (Http404, PermissionDenied, SuspiciousOperation, BadRequest)

_STATUS_CODES = {404: "not_found", 405: "method_not_allowed", 400: "bad_request", 403: "forbidden"}


class JsonErrorMiddleware:
    """Unknown routes, Django's own error pages and crashes answer JSON, never HTML."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and not request.path_info.startswith("/admin")
            and "json" not in response.get("Content-Type", "")
            and not getattr(response, "streaming", False)
        ):
            code = _STATUS_CODES.get(response.status_code, "error")
            message = {404: "Not found.", 405: "Method not allowed."}.get(
                response.status_code, HttpResponse(status=response.status_code).reason_phrase
            )
            replaced = JsonResponse(error_body(code, message), status=response.status_code)
            for header in ("WWW-Authenticate", "Allow", "Retry-After"):
                if header in response:
                    replaced[header] = response[header]
            return replaced
        return response

    def process_exception(self, request, exception):
        if isinstance(exception, HANDLED_BY_DJANGO):
            return None  # Django answers these (400/403/404); __call__ above makes the answer JSON off /admin
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return HttpResponse(
            json.dumps(error_body("server_error", "There was an internal error.")),
            status=500,
            content_type="application/json",
        )
