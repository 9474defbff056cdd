"""OAuth 2.0 token requests (django-oauth-toolkit), accepting JSON bodies as Eloqua clients send.

Password grant user names are `Site\\User` (resolved by kernel.auth.SiteUserBackend); client
credentials come by HTTP Basic or in the body; refresh tokens rotate on use. Failed requests are
throttled as every other password door is (kernel.throttle), answering 429 in OAuth's shape.
The endpoint itself (its view and schema) is the Eloqua door's: doors/eloqua/oauth.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import unquote

from oauth2_provider.models import get_refresh_token_model
from oauth2_provider.oauth2_backends import OAuthLibCore
from oauth2_provider.views import TokenView
from rest_framework.exceptions import ParseError

from kernel.auth import THROTTLED, login_account
from kernel.exceptions import Failure, ValidationFailed
from kernel.limits import text_problem
from kernel.middleware import json_response
from kernel.parsers import load_json
from kernel.throttle import LoginAttempt, login_attempt, login_failure_record, login_refusal, login_success_record


def _is_json(request) -> bool:
    return (request.content_type or "").lower() == "application/json"


def _json_params(request) -> list[tuple[str, str]]:
    try:
        body = load_json(request.body.decode("utf-8") or "{}")
    except (ParseError, ValidationFailed, UnicodeDecodeError):
        return []
    if not isinstance(body, dict):
        return []
    return [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in body.items() if v is not None]


class JSONOrFormOAuthLibCore(OAuthLibCore):
    def extract_body(self, request):
        if _is_json(request):
            return _json_params(request)
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


_token_view = TokenView.as_view()


def _token_params(request) -> dict[str, str]:
    """The body's parameters as oauthlib reads them (the last of a repeated one wins)."""
    if _is_json(request):
        return dict(_json_params(request))
    return {key: values[-1] for key, values in request.POST.lists() if values}


def _client_id(request, params: dict[str, str]) -> str | None:
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            return unquote(base64.b64decode(value.strip()).decode("utf-8").partition(":")[0]) or None
        except ValueError:
            return None
    return params.get("client_id") or None


def token_attempt(request, params: dict[str, str]) -> LoginAttempt:
    """What a token request tries, for throttling: the password grant's user, else the client."""
    if params.get("grant_type") == "password" and params.get("username"):
        return login_attempt(request, account=login_account(params["username"]))
    client_id = _client_id(request, params)
    return login_attempt(request, account=f"oauth-client:{client_id}" if client_id else None)


def refresh_token_live(raw: str) -> bool:
    """A refresh token that can still be used: a credential, checked by a hash lookup."""
    checksum = hashlib.sha256(raw.encode()).hexdigest()
    return get_refresh_token_model().objects.filter(token_checksum=checksum, revoked__isnull=True).exists()


def _oauth_error(response) -> str | None:
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


def token_throttled_response(wait: int):
    body = {"error": "too_many_attempts", "error_description": f"{THROTTLED} Try again in {wait} seconds."}
    headers = {"Retry-After": str(wait), "Cache-Control": "no-store", "Pragma": "no-cache"}
    return json_response(body, 429, headers)


def token_answer(request, *args, **kwargs):
    """django-oauth-toolkit's answer, throttled as any password door: a request over a limit gets
    429 before any client secret or password is checked; a live refresh token is never held up.
    A 401 (`invalid_client`) or an `invalid_grant` counts as a failure, a 200 as a success."""
    params = _token_params(request)
    attempt = token_attempt(request, params)
    refreshing = params.get("grant_type") == "refresh_token" and refresh_token_live(params.get("refresh_token", ""))
    if not refreshing:
        wait = login_refusal(attempt)
        if wait is not None:
            return token_throttled_response(wait)
    response = _token_view(request, *args, **kwargs)
    if response.status_code == 200:
        login_success_record(attempt)
    elif response.status_code == 401 or _oauth_error(response) == "invalid_grant":
        login_failure_record(attempt)
    return response
