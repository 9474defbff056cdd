"""Checks `config/settings.py` runs at import, so an unsafe production set-up refuses to start
instead of running (STYLE.md section 8). Nothing here reads Django's settings."""

from __future__ import annotations

from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)

# Placeholders people leave in example files; refused even when padded out to the minimum length.
KNOWN_PLACEHOLDERS = ("change-me", "changeme", "change_me", "replace-me", "your-secret-key", "insecure-dev-only")

MAKE_ONE = "python -c 'import secrets; print(secrets.token_urlsafe(50))'"


def secret_key_problem(key: str) -> str | None:
    """Why `key` may not sign production sessions and tokens, or None. Django's own rule (check
    security.W009: at least 50 characters, at least 5 different ones, not `django-insecure-...`),
    plus the known placeholders."""
    if not key:
        return "is not set"
    lowered = key.lower()
    if any(p in lowered for p in KNOWN_PLACEHOLDERS):
        return "is a placeholder"
    if key.startswith(SECRET_KEY_INSECURE_PREFIX):
        return f"starts with {SECRET_KEY_INSECURE_PREFIX!r} (a development key)"
    if len(key) < SECRET_KEY_MIN_LENGTH:
        return f"has {len(key)} characters (at least {SECRET_KEY_MIN_LENGTH})"
    if len(set(key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS:
        return f"has {len(set(key))} different characters (at least {SECRET_KEY_MIN_UNIQUE_CHARACTERS})"
    return None


def proxy_ssl_header(name: str) -> tuple[str, str] | None:
    """SECURE_PROXY_SSL_HEADER from a header name as a proxy sends it (`X-Forwarded-Proto`) or as
    Django names it (`HTTP_X_FORWARDED_PROTO`); None for an empty name."""
    name = name.strip()
    if not name:
        return None
    meta = name.upper().replace("-", "_")
    return ("HTTP_" + meta.removeprefix("HTTP_"), "https")
