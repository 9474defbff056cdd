"""Django's password validators (AUTH_PASSWORD_VALIDATORS) on every door that sets a password:
`createsite --password` and the admin's add-user and change-password forms."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from kernel.models import Site, User
from tests.doors.admin.helpers import superuser

pytestmark = pytest.mark.django_db


def test_createsite_refuses_a_weak_password_with_the_validators_reasons(currencies):
    with pytest.raises(CommandError) as refused:
        call_command("createsite", "Acme", "--user", "api", "--password", "s3cret")
    assert "at least 8 characters" in str(refused.value)
    assert not User.objects.filter(username="api").exists()
    assert not Site.objects.filter(name="Acme").exists()  # refused whole
    with pytest.raises(CommandError, match="too common"):
        call_command("createsite", "Acme", "--user", "api", "--password", "password123")
    with pytest.raises(CommandError, match="too similar"):
        call_command("createsite", "Acme", "--user", "alexander.hamilton", "--password", "alexanderhamilton")
    with pytest.raises(CommandError, match="entirely numeric"):
        call_command("createsite", "Acme", "--user", "api", "--password", "40187263591")


def test_createsite_takes_a_good_password(currencies):
    call_command("createsite", "Acme", "--user", "api", "--password", "long-s3cret-phrase")
    assert User.objects.get(username="api").check_password("long-s3cret-phrase")


@pytest.fixture
def admin_client(site):
    client = Client()
    client.force_login(superuser())
    return client


def test_admin_add_user_refuses_a_weak_password(admin_client, site):
    # when
    response = admin_client.post(
        reverse("admin:bulkapi_user_add"),
        {"site": site.pk, "username": "weak", "usable_password": "true", "password1": "s3cret", "password2": "s3cret"},
    )
    # then: the form again, saying why; no user
    assert response.status_code == 200
    assert "This password is too short" in response.content.decode()
    assert not User.objects.filter(username="weak").exists()


def test_admin_change_password_refuses_a_weak_password(admin_client, site):
    # given
    user = User.objects.create_user(username="api", password="long-s3cret-phrase", site=site)
    # when
    response = admin_client.post(
        reverse("admin:auth_user_password_change", args=[user.pk]),
        {"password1": "12345678", "password2": "12345678"},
    )
    # then
    assert response.status_code == 200
    page = response.content.decode()
    assert "This password is too common" in page and "This password is entirely numeric" in page
    user.refresh_from_db()
    assert user.check_password("long-s3cret-phrase")
