"""OAuth 2.0 token endpoint (django-oauth-toolkit), accepting JSON bodies as Eloqua clients send.

Password grant user names are `Site\\User` (resolved by bulkapi.auth.SiteUserBackend); client
credentials come by HTTP Basic or in the body; refresh tokens rotate on use.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import unquote

from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.oauth2_backends import OAuthLibCore
from oauth2_provider.views import TokenView
from rest_framework.exceptions import ParseError

from .exceptions import Failure, ValidationFailed, error_body
from .limits import text_problem
from .middleware import json_response
from .parsers import load_json


def _is_json(request) -> bool:
    return (request.content_type or "").lower() == "application/json"


class JSONOrFormOAuthLibCore(OAuthLibCore):
    def extract_body(self, request):
        if _is_json(request):
            try:
                body = load_json(request.body.decode("utf-8") or "{}")
            except (ParseError, ValidationFailed, UnicodeDecodeError):
                return []
            if not isinstance(body, dict):
                return []
            return [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in body.items() if v is not None]
        return super().extract_body(request)


def token_request_failure(request) -> Failure | None:
    """What no OAuth lookup may see: text PostgreSQL cannot hold in the client's Basic credentials or
    in any body parameter (a NUL in a client id or user name is a database error, not a bad login).
    Values are never echoed: they may be secrets."""
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = unquote(base64.b64decode(value.strip()).decode("utf-8"))
        except ValueError:  # not base64 or not UTF-8: oauthlib answers invalid_client
            decoded = ""
        if text_problem(decoded):
            return Failure(field="Authorization", constraint=text_problem(decoded))
    if _is_json(request):
        try:
            load_json(request.body.decode("utf-8", "replace") or "{}")
        except ValidationFailed as exc:
            return Failure(field=exc.failures[0].field, constraint=exc.failures[0].constraint)
        except ParseError:
            return None  # oauthlib answers invalid_request
        return None
    for key, values in request.POST.lists():
        for text in (key, *values):
            problem = text_problem(text)
            if problem:
                return Failure(field=key if text is not key else "body", constraint=problem)
    return None


@method_decorator(csrf_exempt, name="dispatch")
class TokenApi(TokenView):
    """POST /auth/oauth2/token."""

    def post(self, request, *args, **kwargs):
        failure = token_request_failure(request)
        if failure is not None:
            body = {"error": "invalid_request", "error_description": failure.constraint}
            body.update(error_body("validation_error", "There was a validation error.", [failure.as_dict()]))
            return json_response(body, 400)
        return super().post(request, *args, **kwargs)
