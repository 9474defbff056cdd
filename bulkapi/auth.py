"""Authentication: Eloqua Basic (`Site\\User:password`), Bearer (API or OAuth token), X-Api-Key.

Every scheme resolves to a user of one site; `request.user.site` is the tenant for everything
downstream. Failures are counted per client address and throttled (429) past a limit.
"""

from __future__ import annotations

import base64
import hashlib
import logging

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.db.models.functions import Lower
from django.utils import timezone
from oauth2_provider.models import get_access_token_model
from redis.exceptions import RedisError
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from .limits import text_problem
from .logging import bind_log_context
from .models import ApiToken, User, hash_token

logger = logging.getLogger(__name__)

# Longest credentials looked up: `Site\\User` is at most 100 + 1 + 150 characters; tokens are ~40.
MAX_LOGIN_CHARS = 256
MAX_SECRET_CHARS = 1024


def credentials_usable(login: str, secret: str) -> bool:
    """Whether credentials could be anyone's: text PostgreSQL can hold, of plausible length. Checked
    before any query (NUL in a user name is a database error, not a failed login)."""
    return (
        len(login) <= MAX_LOGIN_CHARS
        and len(secret) <= MAX_SECRET_CHARS
        and text_problem(login) is None
        and text_problem(secret) is None
    )


def split_site_username(login: str) -> tuple[str | None, str]:
    """`Site\\User` -> (site, user); a login without a backslash has no site."""
    if "\\" in login:
        site, user = login.split("\\", 1)
        return site, user
    return None, login


def find_user(login: str) -> User | None:
    site_name, username = split_site_username(login)
    users = User.objects.select_related("site").annotate(lname=Lower("username"))
    users = users.filter(lname=username.lower(), is_active=True)
    if site_name is None:
        users = users.filter(site__isnull=True)
    else:
        users = users.annotate(sname=Lower("site__name")).filter(sname=site_name.lower())
    return users.first()


class SiteUserBackend(ModelBackend):
    """Django auth backend (admin login, OAuth password grant) that understands `Site\\User`.

    With `allow_plain_name=True` (the admin login form passes it; Eloqua's Basic auth does not), a
    user name without `Site\\` also finds the one active site user of that name, when there is
    exactly one (a site-less user of that name, such as a superuser, comes first)."""

    def authenticate(self, request, username=None, password=None, allow_plain_name=False, **kwargs):
        if not username or password is None:
            return None
        if not (isinstance(username, str) and isinstance(password, str) and credentials_usable(username, password)):
            return None
        user = find_user(username)
        if user is None and allow_plain_name and "\\" not in username:
            user = self.unique_site_user(username)
        if user is None:
            User().set_password(password)  # equalise timing with the found-user path
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None

    @staticmethod
    def unique_site_user(username: str) -> User | None:
        """The active user named `username` (any letter case) when exactly one site has one."""
        users = list(
            User.objects.select_related("site")
            .annotate(lname=Lower("username"))
            .filter(lname=username.lower(), is_active=True)[:2]
        )
        return users[0] if len(users) == 1 else None


def _client_key(request) -> str:
    return "authfail:" + hashlib.sha256(request.META.get("REMOTE_ADDR", "?").encode()).hexdigest()[:16]


# A cache (Redis) that does not answer: throttling degrades (skipped, logged), requests go on.
CACHE_ERRORS = (RedisError, OSError)


def check_not_throttled(request) -> None:
    try:
        failures = cache.get(_client_key(request)) or 0
    except CACHE_ERRORS as exc:
        logger.warning("auth throttling skipped: the cache is unavailable (%r)", exc)
        return
    if failures >= settings.AUTH_FAILURE_LIMIT:
        raise exceptions.Throttled(
            wait=settings.AUTH_FAILURE_WINDOW_SECONDS, detail="Too many failed authentication attempts."
        )


def record_failure(request) -> None:
    key = _client_key(request)
    try:
        if cache.add(key, 1, timeout=settings.AUTH_FAILURE_WINDOW_SECONDS):
            return
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=settings.AUTH_FAILURE_WINDOW_SECONDS)
    except CACHE_ERRORS as exc:
        logger.warning("auth failure not counted: the cache is unavailable (%r)", exc)


def _fail(request, message: str):
    record_failure(request)
    raise exceptions.AuthenticationFailed(message)


class EloquaBasicAuthentication(BaseAuthentication):
    """`Authorization: Basic base64(Site\\User:password)`."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        check_not_throttled(request)
        try:
            login, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError; so is non-ASCII text
            _fail(request, "Invalid Basic credentials: not base64 of Site\\User:password.")
        user = SiteUserBackend().authenticate(request, username=login, password=password)
        if user is None or user.site_id is None:
            _fail(request, "Invalid site, user name or password.")
        bind_log_context(site=user.site.name)
        return user, None

    def authenticate_header(self, request):
        return 'Basic realm="Eloqua"'


def user_for_token(raw: str) -> User | None:
    """An API token or an OAuth access token, whichever `raw` is; None when neither is valid."""
    token = (
        ApiToken.objects.select_related("user__site")
        .filter(key_hash=hash_token(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is not None:
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user
    access = (
        get_access_token_model()
        .objects.select_related("user__site")
        .filter(token_checksum=hashlib.sha256(raw.encode()).hexdigest())
        .first()
    )
    if access is not None and access.is_valid() and access.user and access.user.is_active:
        return access.user
    return None


class TokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token>` or `X-Api-Key: <token>`."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, value = header.partition(" ")
        raw = value.strip() if scheme.lower() == "bearer" else request.META.get("HTTP_X_API_KEY", "")
        if not raw:
            return None
        check_not_throttled(request)
        user = user_for_token(raw) if credentials_usable("", raw) else None
        if user is None or user.site_id is None:
            _fail(request, "Invalid or revoked token.")
        bind_log_context(site=user.site.name)
        return user, None

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class IsSiteUser(BasePermission):
    """Authenticated as a user of a site: the tenant every query is scoped to."""

    def has_permission(self, request, view):
        return bool(request.user and getattr(request.user, "site_id", None))
