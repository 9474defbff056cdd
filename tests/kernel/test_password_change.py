"""A new password ends the user's OAuth tokens (access and refresh) whichever way it is set, and
keeps the API tokens made for the user (README "Sites, users and authentication")."""

import base64

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from oauth2_provider.models import AccessToken, Application, RefreshToken
from rest_framework.test import APIClient

from doors.admin.services import staff_user_grant
from kernel.models import User
from tests.conftest import basic, bearer
from tests.factories import TokenFactory

FIELDS = "/api/bulk/2.0/opportunities/fields"
CLIENT_AUTH = "Basic " + base64.b64encode(b"client-abc:client-secret").decode()
NEW = "new-pass-123"

pytestmark = pytest.mark.django_db


def password_grant(user, password: str) -> dict:
    response = APIClient().post(
        "/auth/oauth2/token",
        {"grant_type": "password", "username": f"{user.site.name}\\{user.username}", "password": password},
        HTTP_AUTHORIZATION=CLIENT_AUTH,
    )
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def issued(user):
    """An OAuth client, two OAuth logins of `user` (access + refresh token each) and an API token."""
    Application.objects.create(
        name="eloqua-client",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_PASSWORD,
        client_id="client-abc",
        client_secret="client-secret",
        user=user,
    )
    return {"oauth": [password_grant(user, "secret-pass") for _ in range(2)], "api_token": TokenFactory(user=user)}


def refresh(raw: str):
    return APIClient().post(
        "/auth/oauth2/token", {"grant_type": "refresh_token", "refresh_token": raw}, HTTP_AUTHORIZATION=CLIENT_AUTH
    )


def assert_oauth_ended_api_token_kept(user, issued):
    for grant in issued["oauth"]:
        assert APIClient().get(FIELDS, **bearer(grant["access_token"])).status_code == 401
        answer = refresh(grant["refresh_token"])
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    assert not AccessToken.objects.filter(user=user).exists()
    assert not RefreshToken.objects.filter(user=user, revoked__isnull=True).exists()
    assert APIClient().get(FIELDS, **bearer(issued["api_token"].raw)).status_code == 200


def assert_oauth_kept(issued):
    for grant in issued["oauth"]:
        assert APIClient().get(FIELDS, **bearer(grant["access_token"])).status_code == 200
        assert refresh(grant["refresh_token"]).status_code == 200


def change_by_service(user):
    from kernel.services import user_password_change

    user_password_change(user=User.objects.get(pk=user.pk), password=NEW)


def change_by_admin_user_form(user):
    admin = User.objects.create_superuser(username="root", password="root-pass", email="")
    client = Client()
    client.force_login(admin)
    url = reverse("admin:auth_user_password_change", args=[user.pk])
    response = client.post(url, {"usable_password": "true", "password1": NEW, "password2": NEW})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"].endswith("/change/"), response["Location"]


def change_by_admin_own_password_page(user):
    staff_user_grant(user=user)
    client = Client()
    client.force_login(User.objects.get(pk=user.pk))
    response = client.post(
        reverse("admin:password_change"),
        {"old_password": "secret-pass", "new_password1": NEW, "new_password2": NEW},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert client.get("/admin/").status_code == 200  # the changer stays logged in


def change_by_createsite(user):
    call_command("createsite", user.site.name, "--user", user.username.upper(), "--password", NEW)


def change_by_changepassword_command(user, monkeypatch):
    monkeypatch.setattr("getpass.getpass", lambda prompt="": NEW)
    call_command("changepassword", f"{user.site.name.lower()}\\{user.username}")


@pytest.mark.parametrize(
    "change",
    [
        change_by_service,
        change_by_admin_user_form,
        change_by_admin_own_password_page,
        change_by_createsite,
        change_by_changepassword_command,
    ],
)
def test_a_new_password_ends_oauth_tokens_and_keeps_api_tokens(user, issued, change, monkeypatch):
    # when
    if change is change_by_changepassword_command:
        change(user, monkeypatch)
    else:
        change(user)
    # then
    assert_oauth_ended_api_token_kept(user, issued)
    assert APIClient().get(FIELDS, **basic(f"{user.site.name}\\{user.username}", NEW)).status_code == 200
    assert password_grant(user, NEW)["access_token"]


def test_disabling_password_login_in_the_admin_ends_oauth_tokens(user, issued):
    admin = User.objects.create_superuser(username="root", password="root-pass", email="")
    client = Client()
    client.force_login(admin)
    response = client.post(
        reverse("admin:auth_user_password_change", args=[user.pk]), {"usable_password": "false", "unset-password": "1"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"].endswith("/change/"), response["Location"]
    assert not User.objects.get(pk=user.pk).has_usable_password()
    assert_oauth_ended_api_token_kept(user, issued)


def test_createsite_with_the_same_password_changes_nothing(user, issued, capsys):
    stored = User.objects.get(pk=user.pk).password
    call_command("createsite", user.site.name, "--user", user.username, "--password", "secret-pass")
    assert "password unchanged" in capsys.readouterr().out
    assert User.objects.get(pk=user.pk).password == stored
    assert_oauth_kept(issued)


def test_a_hash_upgrade_at_login_is_not_a_password_change(user, issued, settings):
    # given: a stored hash made by a hasher that is no longer the preferred one
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    old = User.objects.get(pk=user.pk).password
    assert old.startswith("md5$")
    # when: the user logs in, and Django re-hashes the password with PBKDF2
    assert APIClient().get(FIELDS, **basic(f"{user.site.name}\\{user.username}", "secret-pass")).status_code == 200
    assert User.objects.get(pk=user.pk).password.startswith("pbkdf2_sha256$")
    # then: the OAuth tokens live on
    assert_oauth_kept(issued)


def test_no_code_but_the_service_sets_a_password():
    """A door that called `set_password` itself would keep the user's OAuth tokens alive: every one
    goes through `user_password_change` (the admin forms and `changepassword` override Django's)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    # services.py: user_password_change (2) and user_set for a new user; auth.py: the unsaved timing twin
    allowed = {("kernel/services.py", 3), ("kernel/auth.py", 1)}
    found = {}
    folders = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != "tests"]
    for path in (file for folder in folders for file in folder.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        text = path.read_text()
        count = text.count(".set_password(") + text.count(".set_unusable_password(")
        if count:
            found[relative] = count
    assert set(found.items()) == allowed
