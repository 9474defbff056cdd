"""Writes for sites, users and tokens."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
)

from kernel.models import ApiToken, Site, User, hash_token

_SITE_SETUP: list[Callable[[Site], None]] = []


def site_setup_register(setup: Callable[[Site], None]) -> None:
    """What a new site gets besides its row (an entity's defaults: the opportunity stage list),
    registered by its app at start-up, so the kernel names no entity."""
    _SITE_SETUP.append(setup)


def site_create(*, name: str) -> tuple[Site, bool]:
    """The site named `name` (any letter case), created with what every registered setup adds
    (`site_setup_register`) if new."""
    with transaction.atomic():
        site = Site.objects.annotate(lname=Lower("name")).filter(lname=name.lower()).first()
        if site is not None:
            return site, False
        site = Site.objects.create(name=name)
        for setup in _SITE_SETUP:
            setup(site)
        return site, True


def user_get(*, site: Site, username: str) -> User | None:
    """The site's user of that name (any letter case), or None."""
    return User.objects.annotate(lname=Lower("username")).filter(site=site, lname=username.lower()).first()


def user_set(*, site: Site, username: str, password: str, **extra) -> tuple[User, str]:
    """Create the user or give it `password`; returns (user, "created" / "password changed" /
    "password unchanged"). Idempotent: the password the user already has is left as it is (no new
    hash, so its OAuth tokens live on: `docker compose up` runs this every time)."""
    user = user_get(site=site, username=username)
    user_was = "password unchanged"
    if user is None:
        user, user_was = User(site=site, username=username, **extra), "created"
        user.set_password(password)
    user.is_active = True
    if user_was == "created" or user.check_password(password):
        user.save()
    else:
        user_password_change(user=user, password=password)
        user_was = "password changed"
    return user, user_was


def user_password_change(*, user: User, password: str | None) -> User:
    """Give `user` a new password (None: none, password login disabled) and end what the old one
    let anyone obtain: every OAuth access and refresh token issued to the user. API tokens stay:
    each was made on purpose for an integration, is listed and revoked one by one in the admin.

    Every way a password changes goes through here (the admin's two password forms, `createsite`,
    `changepassword`). Not through `User.set_password`: Django calls that too when it re-hashes a
    password at login with a newer hasher, which is no password change."""
    with transaction.atomic(savepoint=False):
        if password is None:
            user.set_unusable_password()
        else:
            user.set_password(password)
        user.save()
        oauth_tokens_revoke(user=user)
    return user


def oauth_tokens_revoke(*, user: User) -> None:
    """End every OAuth grant of `user`: refresh tokens are marked revoked (a replay is refused
    as `invalid_grant`), access tokens, authorization codes and ID tokens are deleted."""
    now = timezone.now()
    with transaction.atomic(savepoint=False):
        get_refresh_token_model().objects.filter(user=user, revoked__isnull=True).update(
            revoked=now, updated=now, access_token=None
        )
        get_access_token_model().objects.filter(user=user).delete()
        get_grant_model().objects.filter(user=user).delete()
        get_id_token_model().objects.filter(user=user).delete()


def api_token_may_manage(*, actor: User, owner_id: int) -> bool:
    """Tokens are credentials: a superuser issues, sees and revokes anyone's, every other user only
    their own. A staff user's token for a colleague (another staff user included) would let them
    act as that colleague."""
    return actor.is_superuser or actor.pk == owner_id


def _check_token_owner(by: User | None, owner_id: int) -> None:
    if by is not None and not api_token_may_manage(actor=by, owner_id=owner_id):
        raise PermissionDenied("Only a superuser, or the user themself, manages a user's API tokens.")


def api_token_create(
    *, user: User, raw: str | None = None, name: str = "", by: User | None = None, revive: bool = True
) -> tuple[ApiToken, str, bool]:
    """Issue a token (or register exactly `raw`); returns (token, raw value, created). `by`: who
    asks for it (the admin's user), None for an operator's command (`createsite --token`).

    Registering a revoked token's value again makes it valid again, unless `revive` is false: a
    bootstrap that runs on every start must never undo a revocation."""
    _check_token_owner(by, user.pk)
    raw = raw or secrets.token_urlsafe(32)
    token = ApiToken.objects.filter(key_hash=hash_token(raw)).first()
    if token is not None:
        if token.user_id != user.pk:
            raise ValueError("That token already belongs to another user.")
        if token.revoked_at is not None and revive:
            ApiToken.objects.filter(pk=token.pk).update(revoked_at=None)
            token.revoked_at = None
        return token, raw, False
    token = ApiToken.objects.create(user=user, name=name, prefix=raw[:8], key_hash=hash_token(raw))
    return token, raw, True


def api_token_revoke(*, token: ApiToken, by: User | None = None) -> None:
    _check_token_owner(by, token.user_id)
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
