"""Authentication: Eloqua Basic (`Site\\User:password`), Bearer (API or OAuth token), X-Api-Key.

Every scheme resolves to a user of one site; `request.user.site` is the tenant for everything
downstream. Valid tokens and remembered Basic credentials are never throttled; password checks are,
per account, per address and per (account, address) (kernel.throttle).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import threading
import time
from collections import OrderedDict

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.db.models.functions import Lower
from django.utils import timezone
from oauth2_provider.models import get_access_token_model
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from kernel.limits import text_problem
from kernel.logging import bind_log_context
from kernel.models import ApiToken, User, hash_token
from kernel.throttle import (
    login_attempt,
    login_failure_record,
    login_refusal,
    login_success_record,
    token_failure_record,
    token_refusal,
)

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


def login_account(login: str, *, allow_plain_name: bool = False) -> str:
    """The account a login names, as failures are counted: `site\\user` in lower case. A plain name
    the admin login resolves to one site's user (`allow_plain_name`) counts as that user, so the
    two spellings share one counter."""
    if allow_plain_name and "\\" not in login and credentials_usable(login, ""):
        user = find_user(login) or SiteUserBackend.unique_site_user(login)
        if user is not None:
            return str(user).lower()
    return login.lower()


THROTTLED = "Too many failed authentication attempts."


class BasicCredentialCache:
    """Basic credentials that passed their password check lately, so that a client sending the same
    header on every call (Eloqua clients do) pays PBKDF2 (~0.2 s of CPU) once, not per request.

    Held in this process's memory only, under an HMAC of the header with a key made at start-up:
    neither the password nor anything that could be checked against it offline is kept. An entry
    holds the user's id and an HMAC of the user's stored password hash, and is used only while that
    user is active and still has that hash (a new password, even the same one, gets a new salt)
    and still answers to the header's `Site\\User`; otherwise, or after
    `AUTH_BASIC_CACHE_SECONDS`, the full check runs again. Failures are never remembered: a wrong
    password costs the full check and counts toward throttling every time."""

    MAX_ENTRIES = 10_000

    def __init__(self) -> None:
        self._key = os.urandom(32)
        self._entries: OrderedDict[bytes, tuple[float, int, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self.clock = time.monotonic

    def _digest(self, value: str | bytes) -> bytes:
        return hmac.new(self._key, value.encode() if isinstance(value, str) else value, hashlib.sha256).digest()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def remember(self, header: str, user: User) -> None:
        ttl = settings.AUTH_BASIC_CACHE_SECONDS
        if ttl <= 0:
            return
        with self._lock:
            self._entries[self._digest(header)] = (self.clock() + ttl, user.pk, self._digest(user.password))
            while len(self._entries) > self.MAX_ENTRIES:
                self._entries.popitem(last=False)

    def user_for(self, header: str, login: str) -> User | None:
        """The user `header` authenticated lately, if it still would; None means: check in full."""
        if settings.AUTH_BASIC_CACHE_SECONDS <= 0:
            return None
        key = self._digest(header)
        with self._lock:
            entry = self._entries.get(key)
        if entry is None:
            return None
        expires, user_id, fingerprint = entry
        user = None
        if self.clock() < expires:
            user = User.objects.select_related("site").filter(pk=user_id, is_active=True).first()
        site_name, username = split_site_username(login)
        if (
            user is None
            or user.site is None
            or site_name is None
            or user.username.lower() != username.lower()
            or user.site.name.lower() != site_name.lower()
            or not hmac.compare_digest(self._digest(user.password), fingerprint)
        ):
            with self._lock:
                self._entries.pop(key, None)
            return None
        return user


BASIC_CACHE = BasicCredentialCache()


class EloquaBasicAuthentication(BaseAuthentication):
    """`Authorization: Basic base64(Site\\User:password)`."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            login, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError; so is non-ASCII text
            attempt = login_attempt(request, account=None)
            self._wait_if_throttled(attempt)
            self._fail(attempt, "Invalid Basic credentials: not base64 of Site\\User:password.")
        # A credential that passed lately passes again, whatever failures its address or account has.
        user = BASIC_CACHE.user_for(header, login)
        if user is None:
            attempt = login_attempt(request, account=login_account(login))
            self._wait_if_throttled(attempt)
            user = SiteUserBackend().authenticate(request, username=login, password=password)
            if user is None or user.site_id is None:
                self._fail(attempt, "Invalid site, user name or password.")
            login_success_record(attempt)
            BASIC_CACHE.remember(header, user)
        bind_log_context(site=user.site.name)
        return user, None

    @staticmethod
    def _wait_if_throttled(attempt) -> None:
        wait = login_refusal(attempt)
        if wait is not None:
            raise exceptions.Throttled(wait=wait, detail=THROTTLED)

    @staticmethod
    def _fail(attempt, message: str):
        login_failure_record(attempt)
        raise exceptions.AuthenticationFailed(message)

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


# Headers that carry a token as it is, beside `Authorization: Bearer`: ours, and Capillary's
# (`x-cap-api-oauth-token`, sent by clients of the Capillary door, doors.capillary).
TOKEN_HEADERS = ("HTTP_X_API_KEY", "HTTP_X_CAP_API_OAUTH_TOKEN")


def token_header_value(meta) -> str:
    """The token of the first token header present (`TOKEN_HEADERS`), or ''."""
    return next((meta[h] for h in TOKEN_HEADERS if meta.get(h)), "")


class TokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token>`, `X-Api-Key: <token>` or `x-cap-api-oauth-token: <token>`."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, value = header.partition(" ")
        raw = value.strip() if scheme.lower() == "bearer" else token_header_value(request.META)
        if not raw:
            return None
        # Looked up first: a valid token is never throttled, whatever failures its address has.
        user = user_for_token(raw) if credentials_usable("", raw) else None
        if user is None or user.site_id is None:
            wait = token_refusal(request)
            if wait is not None:
                raise exceptions.Throttled(wait=wait, detail=THROTTLED)
            token_failure_record(request)
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        bind_log_context(site=user.site.name)
        return user, None

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class IsSiteUser(BasePermission):
    """Authenticated as a user of a site: the tenant every query is scoped to."""

    def has_permission(self, request, view):
        return bool(request.user and getattr(request.user, "site_id", None))
