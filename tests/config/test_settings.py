"""Production defaults of `config/settings.py`: read at import from the environment, so each case
imports the settings in a fresh process with exactly the environment it names."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import pytest

from tests.conftest import ROOT

STRONG_KEY = secrets.token_urlsafe(50)
# What an operator sets for production behind a TLS proxy (README "Security").
PRODUCTION = {
    "DJANGO_SECRET_KEY": STRONG_KEY,
    "DJANGO_ALLOWED_HOSTS": "bulk.example.com",
    "PUBLIC_BASE_URL": "https://bulk.example.com",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
}
SHOWN = (
    "DEBUG", "SECRET_KEY", "PASSWORD_HASHERS", "AUTH_PASSWORD_VALIDATORS", "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS", "SECURE_PROXY_SSL_HEADER", "SECURE_SSL_REDIRECT",
)  # fmt: skip


def _environ(env: dict[str, str]) -> dict[str, str]:
    """The process's environment without any of our settings' variables (the tests' own DJANGO_DEBUG
    and fast hasher included), plus `env`."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PASSWORD_", "PUBLIC_"))}
    return {**keep, "DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": "", **env}


def load(env: dict[str, str]) -> subprocess.CompletedProcess:
    code = (
        "import json; from django.conf import settings; "
        f"print(json.dumps({{k: getattr(settings, k, None) for k in {SHOWN!r}}}))"
    )
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_environ(env), capture_output=True, text=True)


def settings_with(env: dict[str, str]) -> dict:
    result = load(env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_debug_is_off_unless_asked_for_and_then_a_secret_key_is_required():
    result = load({})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "DJANGO_SECRET_KEY" in result.stderr
    assert settings_with({"DJANGO_SECRET_KEY": STRONG_KEY})["DEBUG"] is False


def test_the_demo_mode_is_explicit():
    shown = settings_with({"DJANGO_DEBUG": "true"})
    assert shown["DEBUG"] is True and shown["SECRET_KEY"]


@pytest.mark.parametrize(
    "key",
    [
        "change-me",  # .env.example's placeholder
        "x" * 49 + "yz",  # long enough, but 3 distinct characters
        secrets.token_urlsafe(30),  # random but 40 characters
        "django-insecure-" + secrets.token_urlsafe(50),  # what startproject writes for development
        "change-me-" + secrets.token_urlsafe(50),  # a placeholder padded out
    ],
    ids=["placeholder", "few-distinct", "short", "django-insecure", "padded-placeholder"],
)
def test_a_weak_secret_key_refuses_to_start(key):
    result = load({"DJANGO_SECRET_KEY": key})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "DJANGO_SECRET_KEY" in result.stderr
    assert key not in result.stderr  # the refusal never prints the key


def test_no_md5_or_other_fast_hasher_by_default():
    hashers = settings_with({"DJANGO_SECRET_KEY": STRONG_KEY})["PASSWORD_HASHERS"]
    assert hashers == ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]


def test_password_validators_are_on():
    names = {
        v["NAME"].rsplit(".", 1)[1]
        for v in settings_with({"DJANGO_SECRET_KEY": STRONG_KEY})["AUTH_PASSWORD_VALIDATORS"]
    }
    assert names == {
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    }


def test_cookies_are_secure_and_hsts_on_once_https_is_declared():
    plain = settings_with({"DJANGO_SECRET_KEY": STRONG_KEY})
    assert not plain["SESSION_COOKIE_SECURE"] and not plain["SECURE_HSTS_SECONDS"]
    assert plain["SECURE_PROXY_SSL_HEADER"] is None  # opt-in: trusting it without a proxy lets clients lie
    tls = settings_with(PRODUCTION)
    assert tls["SESSION_COOKIE_SECURE"] and tls["CSRF_COOKIE_SECURE"] and tls["SECURE_SSL_REDIRECT"]
    assert tls["SECURE_HSTS_SECONDS"] >= 31536000
    assert tls["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_check_deploy_is_clean_with_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=_environ(PRODUCTION), capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
