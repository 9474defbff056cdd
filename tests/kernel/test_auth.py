import base64

import pytest
from django.test import override_settings
from oauth2_provider.models import Application
from rest_framework.test import APIClient

from kernel.services import api_token_revoke
from tests.conftest import basic, bearer
from tests.factories import SiteFactory, TokenFactory, UserFactory

FIELDS = "/api/bulk/2.0/opportunities/fields"
pytestmark = pytest.mark.django_db


def test_basic_auth_in_eloqua_site_backslash_user_form(user):
    response = APIClient().get(FIELDS, **basic(f"{user.site.name}\\{user.username}", "secret-pass"))
    assert response.status_code == 200
    assert response.json()["totalResults"] >= 12


def test_basic_auth_site_and_user_are_case_insensitive(user):
    login = f"{user.site.name.upper()}\\{user.username.upper()}"
    assert APIClient().get(FIELDS, **basic(login, "secret-pass")).status_code == 200


@pytest.mark.parametrize(
    "login,password",
    [("{site}\\{user}", "wrong"), ("{user}", "secret-pass"), ("Nope\\{user}", "secret-pass")],
)
def test_bad_basic_credentials_are_401_json_with_challenge(user, login, password):
    login = login.format(site=user.site.name, user=user.username)
    response = APIClient().get(FIELDS, **basic(login, password))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Basic realm="Eloqua"'
    assert response.json()["code"] == "authentication_failed"


def test_missing_credentials_are_401_with_challenge(db):
    response = APIClient().get(FIELDS)
    assert response.status_code == 401
    assert "WWW-Authenticate" in response
    assert response.json()["code"] == "not_authenticated"


def test_bearer_api_token(token):
    assert APIClient().get(FIELDS, **bearer(token.raw)).status_code == 200


def test_x_api_key_header(token):
    assert APIClient().get(FIELDS, HTTP_X_API_KEY=token.raw).status_code == 200


def test_revoked_token_is_refused(token):
    api_token_revoke(token=token)
    response = APIClient().get(FIELDS, **bearer(token.raw))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_tokens_are_stored_hashed(token):
    token.refresh_from_db()
    assert token.raw not in (token.key_hash, token.prefix * 2)
    assert len(token.key_hash) == 64


@override_settings(AUTH_FAILURE_LIMIT=3)
def test_repeated_failures_are_throttled(user, token):
    client = APIClient()
    for _ in range(3):
        assert client.get(FIELDS, **bearer("nope")).status_code == 401
    response = client.get(FIELDS, **bearer("nope"))
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert 1 <= int(response["Retry-After"]) <= 60
    # a valid token is looked up first and never throttled (README "Throttling")
    assert client.get(FIELDS, **bearer(token.raw)).status_code == 200


def _oauth_app(user):
    app = Application(
        name="eloqua-client",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_PASSWORD,
        client_id="client-abc",
        client_secret="client-secret",
        user=user,
    )
    app.save()
    return app


def test_oauth_password_grant_form_with_basic_client_auth_and_refresh_rotation(user):
    _oauth_app(user)
    client = APIClient()
    auth = "Basic " + base64.b64encode(b"client-abc:client-secret").decode()
    response = client.post(
        "/auth/oauth2/token",
        {
            "grant_type": "password",
            "username": f"{user.site.name}\\{user.username}",
            "password": "secret-pass",
            "scope": "full",
        },
        HTTP_AUTHORIZATION=auth,
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"].lower() == "bearer"
    assert body["expires_in"] == 28800
    assert APIClient().get(FIELDS, **bearer(body["access_token"])).status_code == 200
    refreshed = client.post(
        "/auth/oauth2/token",
        {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        HTTP_AUTHORIZATION=auth,
    ).json()
    assert refreshed["refresh_token"] != body["refresh_token"]
    assert APIClient().get(FIELDS, **bearer(refreshed["access_token"])).status_code == 200
    again = client.post(
        "/auth/oauth2/token",
        {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
        HTTP_AUTHORIZATION=auth,
    )
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_oauth_password_grant_json_body_with_client_credentials_in_body(user):
    _oauth_app(user)
    response = APIClient().post(
        "/auth/oauth2/token",
        {
            "grant_type": "password",
            "username": f"{user.site.name}\\{user.username}",
            "password": "secret-pass",
            "client_id": "client-abc",
            "client_secret": "client-secret",
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    token = response.json()["access_token"]
    assert APIClient().get("/id", **bearer(token)).json()["user"]["id"] == user.pk


def test_oauth_bad_password_is_invalid_grant(user):
    _oauth_app(user)
    response = APIClient().post(
        "/auth/oauth2/token",
        {"grant_type": "password", "username": f"{user.site.name}\\{user.username}", "password": "x",
         "client_id": "client-abc", "client_secret": "client-secret"},
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_id_answers_discovery_shape_with_our_base_urls(user):
    response = APIClient().get("/id", **basic(f"{user.site.name}\\{user.username}", "secret-pass"))
    body = response.json()
    assert response.status_code == 200
    assert body["site"] == {"id": user.site.pk, "name": user.site.name}
    assert body["user"]["id"] == user.pk and body["user"]["username"] == user.username
    assert body["user"]["displayName"]
    assert body["urls"]["base"] == "http://testserver"
    assert body["urls"]["apis"]["rest"]["bulk"] == "http://testserver/API/Bulk/{version}/"
    assert body["urls"]["apis"]["rest"]["standard"] == "http://testserver/API/REST/{version}/"
    assert set(body["urls"]["apis"]["soap"]) == {"standard", "dataTransfer", "email", "externalAction"}


@pytest.mark.parametrize("headers", [{}, basic("Nope\\x", "y"), bearer("nope")])
def test_id_with_bad_credentials_is_200_not_authenticated_string(db, headers):
    response = APIClient().get("/id", **headers)
    assert response.status_code == 200
    assert response.content == b'"Not authenticated."'
    assert len(response.content) == 20


def test_createsite_is_idempotent_and_registers_exact_token(db, capsys):
    from django.core.management import call_command

    call_command("createsite", "Acme", "--user", "api", "--password", "first-passphrase", "--token", "tok-123")
    call_command("createsite", "Acme", "--user", "api", "--password", "second-passphrase", "--token", "tok-123")
    out = capsys.readouterr().out
    assert "created" in out and "exists" in out
    assert APIClient().get(FIELDS, **bearer("tok-123")).status_code == 200
    assert APIClient().get(FIELDS, **basic("Acme\\api", "second-passphrase")).status_code == 200
    assert APIClient().get(FIELDS, **basic("Acme\\api", "first-passphrase")).status_code == 401


def test_same_username_on_two_sites_are_different_users(db):
    a, b = SiteFactory(), SiteFactory()
    ua, ub = UserFactory(site=a, username="api", password="pa"), UserFactory(site=b, username="api", password="pb")
    assert APIClient().get("/id", **basic(f"{a.name}\\api", "pa")).json()["user"]["id"] == ua.pk
    assert APIClient().get("/id", **basic(f"{b.name}\\api", "pb")).json()["user"]["id"] == ub.pk
    assert TokenFactory(user=ua).user.site == a


def _login(user) -> str:
    return f"{user.site.name}\\{user.username}"


def test_a_repeated_basic_credential_is_checked_in_full_once(user, password_checks):
    client = APIClient()
    for _ in range(5):
        assert client.get(FIELDS, **basic(_login(user), "secret-pass")).status_code == 200
    assert password_checks == [user.pk]


def test_a_wrong_password_is_checked_in_full_every_time_and_throttled(user, password_checks, settings):
    settings.AUTH_FAILURE_LIMIT = 3
    client = APIClient()
    assert client.get(FIELDS, **basic(_login(user), "secret-pass")).status_code == 200
    for _ in range(3):
        assert client.get(FIELDS, **basic(_login(user), "secret-pas")).status_code == 401
    assert len(password_checks) == 4
    # the next wrong one waits, unchecked; the good credential, remembered, passes
    assert client.get(FIELDS, **basic(_login(user), "secret-pas")).status_code == 429
    assert len(password_checks) == 4
    assert client.get(FIELDS, **basic(_login(user), "secret-pass")).status_code == 200


def test_a_new_password_ends_the_remembered_credential(user, password_checks):
    client = APIClient()
    assert client.get(FIELDS, **basic(_login(user), "secret-pass")).status_code == 200
    user.set_password("secret-pass")  # the same password again: a new salt, a new hash
    user.save()
    assert client.get(FIELDS, **basic(_login(user), "secret-pass")).status_code == 200
    assert len(password_checks) == 2
    user.set_password("other-pass")
    user.save()
    assert client.get(FIELDS, **basic(_login(user), "secret-pass")).status_code == 401
    assert client.get(FIELDS, **basic(_login(user), "other-pass")).status_code == 200


def test_a_disabled_or_renamed_user_is_refused_at_once(user, password_checks):
    client = APIClient()
    login = _login(user)
    assert client.get(FIELDS, **basic(login, "secret-pass")).status_code == 200
    user.is_active = False
    user.save()
    assert client.get(FIELDS, **basic(login, "secret-pass")).status_code == 401
    user.is_active = True
    user.save()
    assert client.get(FIELDS, **basic(login, "secret-pass")).status_code == 200
    user.username = "someone-else"
    user.save()
    assert client.get(FIELDS, **basic(login, "secret-pass")).status_code == 401
    assert client.get(FIELDS, **basic(_login(user), "secret-pass")).status_code == 200


def test_a_remembered_credential_expires(user, password_checks, settings):
    from kernel.auth import BASIC_CACHE

    settings.AUTH_BASIC_CACHE_SECONDS = 60
    now = [1000.0]
    BASIC_CACHE.clock = lambda: now[0]
    try:
        client = APIClient()
        assert client.get(FIELDS, **basic(_login(user), "secret-pass")).status_code == 200
        now[0] += 59
        assert client.get(FIELDS, **basic(_login(user), "secret-pass")).status_code == 200
        assert len(password_checks) == 1
        now[0] += 2
        assert client.get(FIELDS, **basic(_login(user), "secret-pass")).status_code == 200
        assert len(password_checks) == 2
    finally:
        import time

        BASIC_CACHE.clock = time.monotonic


def test_remembering_can_be_turned_off(user, password_checks, settings):
    settings.AUTH_BASIC_CACHE_SECONDS = 0
    client = APIClient()
    for _ in range(3):
        assert client.get(FIELDS, **basic(_login(user), "secret-pass")).status_code == 200
    assert len(password_checks) == 3
