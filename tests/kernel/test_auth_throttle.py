"""Failed-login throttling on every door that checks a password (Basic, the OAuth password grant;
the admin login is in tests/doors/admin): failures are counted per account, per client address and
per (account, address), and a valid credential is never refused because of someone else's
failures (README "Security", "Throttling")."""

import base64

import pytest
from django.core.cache import cache
from django.test import Client
from oauth2_provider.models import Application
from rest_framework.test import APIClient

from doors.admin.services import staff_user_grant
from kernel.auth import BASIC_CACHE
from tests.conftest import basic, bearer, clear_cache
from tests.factories import TokenFactory, UserFactory

FIELDS = "/api/bulk/2.0/opportunities/fields"
TOKEN_URL = "/auth/oauth2/token"
CLIENT_AUTH = "Basic " + base64.b64encode(b"client-abc:client-secret").decode()
ATTACKER, OFFICE = "203.0.113.7", "198.51.100.20"

pytestmark = pytest.mark.django_db


@pytest.fixture
def limits(settings):
    """Three failures per address, per account and per (account, address), in a 60 s window."""
    settings.AUTH_FAILURE_LIMIT = 3
    settings.AUTH_ACCOUNT_FAILURE_LIMIT = 3
    settings.AUTH_FAILURE_WINDOW_SECONDS = 60
    return settings


@pytest.fixture
def oauth_app(user):
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


def login(user) -> str:
    return f"{user.site.name}\\{user.username}"


def api_get(headers: dict, address: str, path: str = FIELDS, **extra):
    return APIClient().get(path, REMOTE_ADDR=address, **headers, **extra)


def password_grant(username: str, password: str, address: str):
    return APIClient().post(
        TOKEN_URL,
        {"grant_type": "password", "username": username, "password": password, "scope": "full"},
        HTTP_AUTHORIZATION=CLIENT_AUTH,
        REMOTE_ADDR=address,
    )


# --- finding 3: the OAuth password grant was never throttled -------------------------------------


def test_oauth_password_guessing_is_throttled_in_oauth_shape_without_a_password_check(
    user, oauth_app, limits, password_checks
):
    # given: three wrong passwords for one account from one address
    for _ in range(3):
        response = password_grant(login(user), "guess", ATTACKER)
        assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert len(password_checks) == 3

    # when: the next guess, then the right password, come from that address
    throttled = password_grant(login(user), "guess", ATTACKER)
    right = password_grant(login(user), "secret-pass", ATTACKER)

    # then: 429 in OAuth's error shape, with Retry-After, and no password check was made
    for response in (throttled, right):
        assert response.status_code == 429
        body = response.json()
        assert set(body) == {"error", "error_description"}
        assert body["error"] == "too_many_attempts"
        assert "Too many failed" in body["error_description"]
        assert 1 <= int(response["Retry-After"]) <= 60
        assert response["Cache-Control"] == "no-store"
    assert len(password_checks) == 3


def test_one_account_guessed_from_many_addresses_and_doors_is_throttled_per_account(user, oauth_app, limits, hash_runs):
    # given: one failure each from three addresses, by two doors, in any letter case
    assert api_get(basic(login(user), "guess-1"), "192.0.2.1").status_code == 401
    assert password_grant(login(user).upper(), "guess-2", "192.0.2.2").status_code == 400
    assert api_get(basic(login(user).lower(), "guess-3"), "192.0.2.3").status_code == 401
    runs = len(hash_runs)

    # when: a fourth address tries that account, wrongly or rightly
    wrong = api_get(basic(login(user), "guess-4"), "192.0.2.4")
    right = api_get(basic(login(user), "secret-pass"), "192.0.2.5")

    # then: both wait, and neither cost a password hashing
    assert wrong.status_code == 429 and right.status_code == 429
    assert wrong.json()["code"] == "throttled" and 1 <= int(wrong["Retry-After"]) <= 60
    assert len(hash_runs) == runs
    # another account from those addresses is not concerned
    other = UserFactory(site=user.site, password="other-pass")
    assert api_get(basic(login(other), "other-pass"), "192.0.2.4").status_code == 200


def test_guessing_names_that_do_not_exist_costs_at_most_the_limit_in_hashing(db, limits, hash_runs):
    for number in range(10):
        api_get(basic(f"Nope\\ghost{number}", "guess"), ATTACKER)
    assert len(hash_runs) == 3


# --- finding 4: one client locked every user of its address out -----------------------------------


def test_failures_never_block_a_valid_token(user, token, oauth_app, limits):
    # given: a client that failed 30 times from an address, for a name that does not exist
    for _ in range(30):
        assert api_get(basic("Nope\\ghost", "guess"), ATTACKER).status_code in (401, 429)
    assert api_get(basic("Nope\\ghost", "guess"), ATTACKER).status_code == 429
    # and 30 bad tokens
    for _ in range(30):
        assert api_get(bearer("not-a-token"), ATTACKER).status_code in (401, 429)
    assert api_get(bearer("not-a-token"), ATTACKER).status_code == 429

    # when/then: valid tokens of any site from that address pass
    other = TokenFactory(user=UserFactory())
    assert api_get(bearer(token.raw), ATTACKER).status_code == 200
    assert api_get(bearer(other.raw), ATTACKER).status_code == 200
    assert api_get({"HTTP_X_API_KEY": token.raw}, ATTACKER).status_code == 200
    access = password_grant(login(user), "secret-pass", OFFICE).json()["access_token"]
    assert api_get(bearer(access), ATTACKER).status_code == 200
    assert api_get(bearer(access), ATTACKER, path="/id").json()["user"]["id"] == user.pk


def test_a_remembered_basic_credential_passes_while_its_address_is_over_the_limit(user, limits, password_checks):
    # given: a client whose Basic credential passed its check
    assert api_get(basic(login(user), "secret-pass"), OFFICE).status_code == 200
    # and another client behind the same address (NAT) failing until the address is over its limit
    for number in range(5):
        api_get(basic(f"Nope\\ghost{number}", "guess"), OFFICE)
    assert api_get(basic("Nope\\ghost", "guess"), OFFICE).status_code == 429

    # when/then: the remembered credential still passes, with no new password check
    assert api_get(basic(login(user), "secret-pass"), OFFICE).status_code == 200
    assert password_checks == [user.pk]


def test_a_known_client_gets_its_check_while_its_address_and_account_are_over_the_limit(
    user, oauth_app, limits, password_checks
):
    # given: the user logged in from the office lately (another process: nothing remembered in memory)
    assert api_get(basic(login(user), "secret-pass"), OFFICE).status_code == 200
    BASIC_CACHE.clear()
    # and the office address is over its limit (another tenant behind the same NAT)...
    for number in range(3):
        assert api_get(basic(f"Nope\\ghost{number}", "guess"), OFFICE).status_code == 401
    # ...and the account is over its own, guessed from elsewhere
    for address in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        assert api_get(basic(login(user), "guess"), address).status_code == 401
    assert api_get(basic(login(user), "guess"), ATTACKER).status_code == 429
    assert api_get(basic("Nope\\ghost", "guess"), OFFICE).status_code == 429
    checks = len(password_checks)

    # when: the user comes back from the office, by Basic and by the OAuth password grant
    basic_answer = api_get(basic(login(user), "secret-pass"), OFFICE)
    BASIC_CACHE.clear()
    oauth_answer = password_grant(login(user), "secret-pass", OFFICE)

    # then: both are checked, and pass
    assert basic_answer.status_code == 200
    assert oauth_answer.status_code == 200, oauth_answer.content
    assert len(password_checks) == checks + 2


def test_a_known_client_is_still_limited_by_its_own_failures(user, limits, password_checks):
    # given: a known (account, address)
    assert api_get(basic(login(user), "secret-pass"), OFFICE).status_code == 200
    # when: someone at that address guesses that account's password
    for _ in range(3):
        assert api_get(basic(login(user), "guess"), OFFICE).status_code == 401
    checks = len(password_checks)
    # then: further guesses from that pair wait, with no check
    assert api_get(basic(login(user), "guess"), OFFICE).status_code == 429
    assert len(password_checks) == checks


def test_counters_are_kept_under_hashed_keys(user, limits):
    api_get(basic("Acme\\Secret.Name", "hunter2-password"), "192.0.2.99")
    password_grant("Acme\\Secret.Name", "hunter2-password", "192.0.2.99")
    client = cache._cache.get_client(write=False)
    keys = [key.decode() for key in client.scan_iter(match=cache.make_key("*"))]
    assert keys, "failures were counted"
    text = " ".join(keys).lower()
    for secret in ("secret.name", "acme", "hunter2", "192.0.2.99"):
        assert secret not in text


def test_the_window_passes(user, limits, monkeypatch):
    from kernel import throttle

    now = [999_980.0]  # 20 s into a 60 s window (999,960 = 60 x 16,666)
    monkeypatch.setattr(throttle, "clock", lambda: now[0])
    for _ in range(3):
        api_get(basic(login(user), "guess"), ATTACKER)
    throttled = api_get(basic(login(user), "secret-pass"), ATTACKER)
    assert throttled.status_code == 429 and throttled["Retry-After"] == "40"
    now[0] += 40
    assert api_get(basic(login(user), "secret-pass"), ATTACKER).status_code == 200


def test_ipv6_clients_are_counted_per_64_prefix(db, limits):
    for host in range(1, 4):
        assert api_get(basic(f"Nope\\ghost{host}", "guess"), f"2001:db8:1:2::{host}").status_code == 401
    assert api_get(basic("Nope\\other", "guess"), "2001:db8:1:2:ffff::9").status_code == 429
    assert api_get(basic("Nope\\other", "guess"), "2001:db8:1:3::1").status_code == 401


# --- the client address behind proxies --------------------------------------------------------------


def test_without_trusted_proxies_x_forwarded_for_is_ignored(db, limits):
    for number in range(3):
        api_get(basic("Nope\\ghost", "guess"), ATTACKER, HTTP_X_FORWARDED_FOR=f"192.0.2.{number}")
    answer = api_get(basic("Nope\\ghost", "guess"), ATTACKER, HTTP_X_FORWARDED_FOR="192.0.2.200")
    assert answer.status_code == 429


def test_trusted_proxies_give_the_client_address(user, limits, settings):
    # given: one proxy in front (it appends the address it was reached from to X-Forwarded-For)
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.2"
    for _ in range(3):
        api_get(basic("Nope\\ghost", "guess"), proxy, HTTP_X_FORWARDED_FOR=ATTACKER)

    # then: that client waits, even when it sends an X-Forwarded-For of its own...
    assert api_get(basic("Nope\\ghost", "guess"), proxy, HTTP_X_FORWARDED_FOR=ATTACKER).status_code == 429
    spoofed = api_get(basic("Nope\\ghost", "guess"), proxy, HTTP_X_FORWARDED_FOR=f"192.0.2.1, {ATTACKER}")
    assert spoofed.status_code == 429
    # ...and another client of the same proxy does not
    assert api_get(basic("Nope\\ghost2", "guess"), proxy, HTTP_X_FORWARDED_FOR=OFFICE).status_code == 401
    assert api_get(basic(login(user), "secret-pass"), proxy, HTTP_X_FORWARDED_FOR=OFFICE).status_code == 200


# --- a cache outage degrades ------------------------------------------------------------------------


def test_a_cache_outage_skips_throttling_and_lets_every_door_work(user, oauth_app, limits, settings, caplog):
    # given: the cache does not answer
    clear_cache()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    # when/then: failures are answered 401 (never 429 nor 500), good credentials pass
    for _ in range(5):
        assert api_get(basic(login(user), "guess"), ATTACKER).status_code == 401
        assert password_grant(login(user), "guess", ATTACKER).status_code == 400
    assert api_get(basic(login(user), "secret-pass"), ATTACKER).status_code == 200
    assert password_grant(login(user), "secret-pass", ATTACKER).status_code == 200
    staff_user_grant(user=user)
    admin = {"username": login(user), "password": "secret-pass"}
    assert Client().post("/admin/login/", {**admin, "password": "guess"}, REMOTE_ADDR=ATTACKER).status_code == 200
    assert Client().post("/admin/login/", admin, REMOTE_ADDR=ATTACKER).status_code == 302
    assert "cache is unavailable" in caplog.text
