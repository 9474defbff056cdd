"""Wire rules Django would not follow by itself (reference section 0), and the edge every request
passes: body framing (WSGI), host, query parameters and path checked before any view, and every
error answer made JSON whichever layer produced it."""

from __future__ import annotations

import gc
import json
import logging
import re
import tempfile
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import BadRequest, DisallowedHost, PermissionDenied, SuspiciousOperation, TooManyFieldsSent
from django.http import Http404, HttpResponse

from kernel.exceptions import (
    BadRequestError,
    BulkError,
    Failure,
    IncompleteBody,
    PayloadTooLarge,
    ValidationFailed,
    django_error,
    error_body,
)
from kernel.limits import text_failure, text_problem
from kernel.logging import start_log_context

logger = logging.getLogger(__name__)

BULK_PREFIX = "/api/bulk/2.0"
_BULK_RE = re.compile(r"^/api/bulk/2\.0(?=/|$)", re.IGNORECASE)
_SLASHES = re.compile(r"/{2,}")
# A client's X-Request-Id is echoed (and logged) only when it looks like an id.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def canonical_path(path: str) -> str:
    """Collapse `//`, drop a trailing `/`, and lower-case Bulk paths (their ids are integers)."""
    path = _SLASHES.sub("/", path)
    if _BULK_RE.match(path):
        path = path.lower()
    if len(path) > 1 and path.endswith("/") and not path.startswith(("/admin", "/api/docs")):
        path = path.rstrip("/")
    return path


def json_bytes(body: object) -> bytes:
    """JSON as DRF's renderer writes it: compact, and ASCII (an echoed surrogate stays escaped)."""
    return json.dumps(body, separators=(",", ":")).encode()


def json_response(body: object, status: int, headers: dict | None = None) -> HttpResponse:
    return HttpResponse(
        json_bytes(body), status=status, content_type="application/json; charset=utf-8", headers=headers
    )


def error_response(exc: BulkError, headers: dict | None = None) -> HttpResponse:
    """Our error body for `exc`, outside DRF (middleware, plain Django views)."""
    return json_response(exc.body(), exc.status_code, headers)


class CollectAfterLargeResponseMiddleware:
    """Frees a large response's data before the process serves its next request.

    DRF keeps a response in reference cycles with its request and view (`renderer_context`,
    `view.response`). Those cycles wait for a full garbage collection, and `gc.freeze()`
    (config/wsgi.py) makes full collections rare. A page of 1,000 rejects is about 2 MB of Python
    objects, so an API worker paging through 18,000 rejects grew from 89 to 125 MB and stayed there.
    After a response larger than `LARGE_RESPONSE_BYTES`, the process's next request first collects
    (5-8 ms measured here). Small responses do not trigger a collection, so polls are unchanged."""

    LARGE_RESPONSE_BYTES = 256 * 1024

    def __init__(self, get_response):
        self.get_response = get_response
        self.collect_first = False

    def __call__(self, request):
        if self.collect_first:
            self.collect_first = False
            gc.collect()
        response = self.get_response(request)
        if not response.streaming:
            # CommonMiddleware has set the length by now; counting the content copies it.
            size = response.get("Content-Length") or len(response.content)
            if int(size) > self.LARGE_RESPONSE_BYTES:
                self.collect_first = True
        return response


class RequestIdMiddleware:
    """X-Request-Id on every answer, log context, and Eloqua's method/status override headers."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = given if _REQUEST_ID.match(given) else str(uuid.uuid4())
        override = request.META.get("HTTP_X_HTTP_METHOD_OVERRIDE", "").upper()
        if request.method in ("POST", "GET") and override in ("PUT", "DELETE", "PATCH", "GET", "POST"):
            request.method = override
        start_log_context(request_id=request_id)
        response = self.get_response(request)
        response["X-Request-Id"] = request_id
        forced = request.META.get("HTTP_X_HTTP_STATUS_CODE_OVERRIDE", "")
        if forced.isdigit() and len(forced) == 3 and 100 <= int(forced) <= 599:
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


class RequestGuardMiddleware:
    """Refuses, before any view runs, what no view could use: a host we do not serve, more query
    parameters than API_MAX_FORM_FIELDS, and a path or query parameter (name or value) holding text
    PostgreSQL cannot store or longer than QUERY_PARAM_MAX_CHARS. One check for every route."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            request.get_host()
            query = request.GET
        except (DisallowedHost, TooManyFieldsSent) as exc:
            return error_response(django_error(exc))
        failure = self.check(request.path_info, query)
        if failure is not None:
            return error_response(ValidationFailed([failure]))
        return self.get_response(request)

    @staticmethod
    def check(path: str, query) -> Failure | None:
        problem = text_problem(path)
        if problem is not None:
            return Failure(field="path", value=path, constraint=problem)
        limit = settings.QUERY_PARAM_MAX_CHARS
        for name, values in query.lists():
            failure = text_failure(name, field=name, max_length=limit)
            if failure is not None:
                return Failure(field="query", value=name, constraint="Parameter name: " + failure.constraint)
            for value in values:
                failure = text_failure(value, field=name, max_length=limit)
                if failure is not None:
                    return failure
        return None


# Exceptions Django itself turns into 400/403/404 answers: the admin keeps those pages.
HANDLED_BY_DJANGO = (Http404, PermissionDenied, SuspiciousOperation, BadRequest)

_STATUS_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    400: "bad_request",
    403: "forbidden",
    413: "payload_too_large",
}
_MESSAGES = {404: "Not found.", 405: "Method not allowed."}


def _is_admin(request) -> bool:
    return request.path_info.startswith("/admin")


class JsonErrorMiddleware:
    """Unknown routes, Django's own error pages (400, 403, 404, 413, DEBUG's technical pages) and
    crashes answer JSON, never HTML; only the admin keeps its pages."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and not _is_admin(request)
            and "json" not in response.get("Content-Type", "")
            and not getattr(response, "streaming", False)
        ):
            code = _STATUS_CODES.get(response.status_code, "error")
            message = _MESSAGES.get(response.status_code) or HttpResponse(status=response.status_code).reason_phrase
            replaced = json_response(error_body(code, message), response.status_code)
            for header in ("WWW-Authenticate", "Allow", "Retry-After"):
                if header in response:
                    replaced[header] = response[header]
            return replaced
        return response

    def process_exception(self, request, exception):
        if _is_admin(request) and isinstance(exception, HANDLED_BY_DJANGO):
            return None  # the admin's own 400/403/404 pages
        mapped = exception if isinstance(exception, BulkError) else django_error(exception)
        if mapped is not None:
            return error_response(mapped)
        if isinstance(exception, Http404):
            return json_response(error_body("not_found", "Not found."), 404)
        if isinstance(exception, PermissionDenied):
            return json_response(error_body("permission_denied", "Permission denied."), 403)
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return json_response(error_body("server_error", "There was an internal error."), 500)


# --- body framing, below Django (WSGI) -------------------------------------------------------

_BODY_LIMITS: list[tuple[re.Pattern, Callable[[], int]]] = []
_SPOOL_BLOCK = 64 * 1024


def register_body_limit(path: str, limit: Callable[[], int]) -> None:
    """A door whose bodies have their own size limit (the batch upload's files) names its paths
    (a regular expression searched in PATH_INFO) and the limit, read per request."""
    _BODY_LIMITS.append((re.compile(path), limit))


def _body_errors() -> tuple[type[BaseException], ...]:
    """What the server's body reader raises on a truncated or malformed chunked body."""
    try:
        from gunicorn.http.errors import ParseException
    except ImportError:  # another WSGI server: it signals the same with OSError or ValueError
        return (OSError, ValueError)
    return (OSError, ValueError, ParseException)


class _CheckedInput:
    """`wsgi.input` of a body with a Content-Length: reading past its end is refused by Django's
    LimitedStream; an end *before* it (client gone, or a body shorter than it said) raises
    IncompleteBody in whatever is reading, so an upload rolls back instead of keeping a prefix."""

    def __init__(self, stream, length: int):
        self.stream, self.remaining = stream, length

    def _took(self, data: bytes, asked: int | None) -> bytes:
        self.remaining -= len(data)
        if not data and self.remaining > 0 and asked != 0:
            raise IncompleteBody(
                [Failure(field="body", constraint=f"The body ended {self.remaining} bytes before its Content-Length.")]
            )
        return data

    def read(self, size: int | None = -1) -> bytes:
        return self._took(self.stream.read(size if size is not None else -1), size)

    def readline(self, size: int | None = -1) -> bytes:
        return self._took(self.stream.readline(size if size is not None else -1), size)

    def __getattr__(self, name):
        return getattr(self.stream, name)


class LengthRequired(BadRequestError):
    status_code = 411
    code = "length_required"
    message = "This server needs the body's length (or gunicorn's chunked decoding)."


class BodyFramingMiddleware:
    """WSGI middleware: every request body reaches Django whole or not at all.

    A body with a Content-Length is read through `_CheckedInput`. A chunked body (no Content-Length;
    gunicorn hands it over with `wsgi.input_terminated`, which Django ignores and reads as empty) is
    spooled first, up to the largest body the route takes, then given to Django with its real
    Content-Length, so every size check and every parser sees it like any other body. One longer
    than that is a 413, one cut off before its last chunk a 400, and Django never sees either."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        length = environ.get("CONTENT_LENGTH") or ""
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked and not length:
            if not environ.get("wsgi.input_terminated"):
                return self._answer(
                    start_response,
                    LengthRequired([Failure(field="Transfer-Encoding", constraint="Send a Content-Length.")]),
                )
            try:
                spooled = self._spool(environ)
            except BulkError as exc:
                return self._answer(start_response, exc)
            environ["wsgi.input"], environ["CONTENT_LENGTH"] = spooled, str(spooled.size)
            response = self.app(environ, start_response)
            return _closing(response, spooled)
        if length.isdigit():
            environ["wsgi.input"] = _CheckedInput(environ["wsgi.input"], int(length))
        return self.app(environ, start_response)

    @staticmethod
    def _limit(environ) -> int:
        path = environ.get("PATH_INFO", "")
        for pattern, limit in _BODY_LIMITS:
            if pattern.search(path):
                return limit()
        return max(settings.BULK_MAX_UPLOAD_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)

    def _spool(self, environ):
        limit = self._limit(environ)
        stream = environ["wsgi.input"]
        spooled = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)  # noqa: SIM115
        size = 0
        try:
            while block := stream.read(_SPOOL_BLOCK):
                size += len(block)
                if size > limit:
                    raise PayloadTooLarge(
                        [Failure(field="body", constraint=f"Request body exceeds {limit} bytes.")],
                        message="The request body is too large.",
                    )
                spooled.write(block)
        except _body_errors():
            spooled.close()
            raise IncompleteBody(
                [Failure(field="body", constraint="The chunked body ended before its last chunk.")]
            ) from None
        except BulkError:
            spooled.close()
            raise
        spooled.seek(0)
        spooled.size = size
        return spooled

    @staticmethod
    def _answer(start_response, exc: BulkError):
        body = json_bytes(error_body(exc.code, exc.message, [f.as_dict() for f in exc.failures]))
        reason = HttpResponse(status=exc.status_code).reason_phrase
        start_response(
            f"{exc.status_code} {reason}",
            [
                ("Content-Type", "application/json; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("X-Request-Id", str(uuid.uuid4())),
                ("Connection", "close"),
            ],
        )
        return [body]


def _closing(response, spooled):
    """The app's response iterable, closing the spooled body when the server closes it."""
    close = getattr(response, "close", None)

    class _Response:
        def __iter__(self):
            return iter(response)

        def close(self):
            try:
                if close is not None:
                    close()
            finally:
                spooled.close()

    return _Response()
