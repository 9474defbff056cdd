"""`manage.py createsite`: explicit (idempotent, sets what it is given) and `--if-missing` (the
bootstrap of docker-compose: creates what is missing, changes nothing that exists)."""

from __future__ import annotations

from pathlib import Path

import yaml
from django.core.management import call_command
from rest_framework.test import APIClient

from kernel.models import ApiToken, Site, User, hash_token
from kernel.services import api_token_revoke
from tests.conftest import basic, bearer

ROOT = Path(__file__).resolve().parents[2]
FIELDS = "/api/bulk/2.0/opportunities/fields"
PASSWORD = "first-long-passphrase"
LEAKED_TOKEN = "bootstrap-token-0123456789"


def _bootstrap(password: str = PASSWORD, token: str = LEAKED_TOKEN):
    call_command(
        "createsite", "Acme", "--user", "admin", "--password", password, "--staff", "--token", token, "--if-missing"
    )


def test_if_missing_creates_what_is_missing(db, currencies, capsys):
    # when: the first `docker compose up` on an empty database
    _bootstrap()
    # then: site, user (staff), token
    out = capsys.readouterr().out
    assert "site Acme" in out and "created" in out
    user = User.objects.get(site__name="Acme", username="admin")
    assert user.is_active and user.is_staff and user.check_password(PASSWORD)
    assert APIClient().get(FIELDS, **bearer(LEAKED_TOKEN)).status_code == 200
    assert APIClient().get(FIELDS, **basic("Acme\\admin", PASSWORD)).status_code == 200


def test_if_missing_never_revives_a_revoked_token_a_disabled_user_or_an_old_password(db, currencies, capsys):
    # given: the bootstrap ran once; then the token leaked and was revoked, the user was disabled
    # and its password changed by an administrator
    _bootstrap()
    token = ApiToken.objects.get(key_hash=hash_token(LEAKED_TOKEN))
    api_token_revoke(token=token)
    user = User.objects.get(site__name="Acme", username="admin")
    user.is_active = False
    user.set_password("changed-by-the-admin-42")
    user.save()
    capsys.readouterr()
    # when: the next `docker compose up` runs the bootstrap again with the same .env
    _bootstrap()
    # then: nothing that exists changed
    out = capsys.readouterr().out
    token.refresh_from_db()
    user.refresh_from_db()
    assert token.revoked_at is not None
    assert not user.is_active
    assert user.check_password("changed-by-the-admin-42") and not user.check_password(PASSWORD)
    assert APIClient().get(FIELDS, **bearer(LEAKED_TOKEN)).status_code == 401
    assert "left as it is" in out
    assert Site.objects.filter(name="Acme").count() == 1 and ApiToken.objects.count() == 1


def test_if_missing_adds_a_missing_token_to_an_existing_user_without_touching_the_user(db, currencies):
    # given
    _bootstrap()
    user = User.objects.get(username="admin")
    user.is_staff = False
    user.save()
    # when: a new token in .env
    _bootstrap(password="another-long-passphrase", token="second-token-0123456789")
    # then: the new token works; the user's password and staff flag are as they were
    user.refresh_from_db()
    assert APIClient().get(FIELDS, **bearer("second-token-0123456789")).status_code == 200
    assert user.check_password(PASSWORD) and not user.is_staff


def test_explicit_createsite_still_resets_password_and_reactivates(db, currencies):
    """The documented idempotent behaviour, for an operator who runs it on purpose."""
    _bootstrap()
    api_token_revoke(token=ApiToken.objects.get(key_hash=hash_token(LEAKED_TOKEN)))
    User.objects.filter(username="admin").update(is_active=False)
    call_command(
        "createsite", "Acme", "--user", "admin", "--password", "reset-long-passphrase", "--token", LEAKED_TOKEN
    )
    assert APIClient().get(FIELDS, **bearer(LEAKED_TOKEN)).status_code == 200
    assert APIClient().get(FIELDS, **basic("Acme\\admin", "reset-long-passphrase")).status_code == 200


def test_docker_compose_bootstraps_with_if_missing():
    """The migrate service runs on every `up`: it must never re-enable what an operator disabled."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    script = "\n".join(compose["services"]["migrate"]["command"])
    assert "createsite" in script
    assert "--if-missing" in script
