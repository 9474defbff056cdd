"""The admin login is a door that checks a password: its failures are counted with the API's
(per account, per address, per pair) and, over a limit, the page says to wait (README "Security")."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.conftest import basic
from tests.doors.admin.helpers import staff_user

pytestmark = pytest.mark.django_db

ATTACKER, OFFICE = "203.0.113.7", "198.51.100.20"


@pytest.fixture
def limits(settings):
    settings.AUTH_FAILURE_LIMIT = 3
    settings.AUTH_ACCOUNT_FAILURE_LIMIT = 3
    settings.AUTH_FAILURE_WINDOW_SECONDS = 60
    return settings


def admin_login(username: str, password: str, address: str):
    return Client().post("/admin/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def test_admin_login_guessing_is_throttled_with_a_plain_message(site, limits, password_checks):
    staff_user(site)
    # given: three wrong passwords from one address
    for _ in range(3):
        response = admin_login(f"{site.name}\\staff", "guess", ATTACKER)
        assert response.status_code == 200 and "correct user name" in response.content.decode()
    assert len(password_checks) == 3

    # when: a fourth guess, and the right password, from there
    guess = admin_login(f"{site.name}\\staff", "guess", ATTACKER)
    right = admin_login(f"{site.name}\\staff", "staff-pass", ATTACKER)

    # then: the page says to wait, with no password check and no error page
    for response in (guess, right):
        page = response.content.decode()
        assert response.status_code == 200
        assert "Too many failed login attempts" in page and "seconds" in page
        assert "Traceback" not in page
    assert len(password_checks) == 3


def test_admin_failures_count_toward_the_account_whatever_the_name_is_written_as(site, limits, password_checks):
    staff_user(site)
    # a plain name and Site\user, in any letter case, are the same account
    assert admin_login("staff", "guess", "192.0.2.1").status_code == 200
    assert admin_login(f"{site.name.upper()}\\STAFF", "guess", "192.0.2.2").status_code == 200
    assert APIClient().get("/id", REMOTE_ADDR="192.0.2.3", **basic(f"{site.name}\\staff", "guess")).status_code == 200
    response = admin_login(f"{site.name}\\staff", "staff-pass", "192.0.2.4")
    assert "Too many failed login attempts" in response.content.decode()
    assert len(password_checks) == 3


def test_a_known_admin_client_logs_in_while_the_account_is_over_the_limit(site, limits):
    staff_user(site)
    assert admin_login(f"{site.name}\\staff", "staff-pass", OFFICE).status_code == 302
    for address in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        admin_login(f"{site.name}\\staff", "guess", address)
    assert "Too many failed" in admin_login(f"{site.name}\\staff", "staff-pass", ATTACKER).content.decode()
    assert admin_login(f"{site.name}\\staff", "staff-pass", OFFICE).status_code == 302
