"""A populated site for admin tests: records of every model the admin shows, and its users."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib.auth.models import Permission
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application, Grant, IDToken, RefreshToken

from doors.admin.services import staff_user_grant
from doors.batch.services import batch_job_create
from entities.opportunities.models import Owner, Pipeline, Stage, Tag
from kernel.models import User
from pipeline.models import CustomField
from tests.doors.batch.helpers import csv_file, rows_csv
from tests.entities.contacts.factories import AccountFactory, ContactFactory
from tests.factories import (
    ImportDefinitionFactory,
    OpportunityContactFactory,
    OpportunityFactory,
    TokenFactory,
    UserFactory,
)
from tests.pipeline.helpers import run_sync

ROWS = [
    {"OpportunityID": "A-1", "OpportunityName": "First", "Amount": "10", "Stage": "Prospecting"},
    {"OpportunityID": "A-2", "OpportunityName": "Second", "Amount": "ten", "Stage": "Prospecting"},
    {"OpportunityID": "A-3", "OpportunityName": "=HYPERLINK(1)", "Amount": "5", "Stage": "No such stage"},
]


def populate(site, tag: str = "") -> dict:
    """One of everything on `site` (names carry `tag`, to tell two sites' pages apart)."""
    user = UserFactory(site=site, username=f"api{tag}")
    TokenFactory(user=user, name=f"Token{tag}")
    oauth(user, tag)
    account = AccountFactory(site=site, name=f"Account{tag}")
    contact = ContactFactory(site=site, account=account, email=f"someone{tag}@example.com")
    owner = Owner.objects.create(site=site, name=f"Owner{tag}", email=f"owner{tag}@example.com")
    tag_obj = Tag.objects.create(site=site, name=f"Tag{tag}")
    pipeline = Pipeline.objects.create(site=site, external_id=f"p{tag}", label=f"Pipeline{tag}")
    opportunity = OpportunityFactory(site=site, name=f"Deal{tag}", company=account, owner=owner)
    opportunity.tags.add(tag_obj)
    OpportunityContactFactory(site=site, opportunity=opportunity, contact=contact)
    CustomField.objects.create(site=site, entity="opportunity", name=f"Region{tag}", internal_name=f"Region{tag}")
    definition = ImportDefinitionFactory(site=site, name=f"Import{tag}")
    sync = run_sync(definition, ROWS, user=user)
    job = batch_job_create(
        site=site,
        user=user,
        upload=csv_file(rows_csv(f"2024-01-01T00:00:00Z,EUR,10,Prospecting,b{tag}@example.com,REF{tag}")),
    )
    return {
        "user": user,
        "account": account,
        "contact": contact,
        "owner": owner,
        "tag": tag_obj,
        "pipeline": pipeline,
        "opportunity": opportunity,
        "stage": Stage.objects.filter(site=site).first(),
        "definition": definition,
        "sync": sync,
        "job": job,
    }


def oauth(user: User, tag: str) -> None:
    """An OAuth client of the user's, with one of each of its credentials."""
    app = Application.objects.create(
        name=f"App{tag}",
        user=user,
        client_id=f"client-{tag}-{user.pk}",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_PASSWORD,
    )
    expires = timezone.now() + timedelta(hours=1)
    access = AccessToken.objects.create(
        user=user, application=app, token=f"access-{tag}-{user.pk}", expires=expires, scope="full"
    )
    RefreshToken.objects.create(user=user, application=app, token=f"refresh-{tag}-{user.pk}", access_token=access)
    Grant.objects.create(
        user=user, application=app, code=f"code-{tag}-{user.pk}", expires=expires, redirect_uri="https://x.test/"
    )
    IDToken.objects.create(user=user, application=app, expires=expires, scope="openid")


def staff_user(site, username: str = "staff", password: str = "staff-pass") -> User:
    """A site's staff user exactly as `createsite --staff` makes one."""
    user = UserFactory(site=site, username=username, password=password)
    staff_user_grant(user=user)
    return User.objects.get(pk=user.pk)


def superuser(username: str = "root", password: str = "root-pass") -> User:
    return User.objects.create_superuser(username=username, password=password, email="")


def grant(user: User, *codenames: str) -> None:
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))


def form_data(response) -> dict:
    """The POST body of an admin change/add form exactly as rendered (a "Save" without edits)."""
    form = response.context["adminform"].form
    data: dict = {"_save": "Save"}
    for name, field in form.fields.items():
        bound = form[name]
        value = bound.value()
        widget = field.widget
        if isinstance(widget, forms.MultiWidget):
            parts = widget.decompress(value)
            for i, part in enumerate(parts):
                if part is not None:
                    data[f"{bound.html_name}_{i}"] = str(part)
        elif isinstance(field, forms.BooleanField) and not isinstance(field, forms.NullBooleanField):
            if value:
                data[bound.html_name] = "on"
        elif value is None:
            if not isinstance(field, forms.MultipleChoiceField | forms.ModelMultipleChoiceField):
                data[bound.html_name] = ""
        elif isinstance(value, list | tuple):
            data[bound.html_name] = [str(getattr(v, "pk", v)) for v in value]
        elif hasattr(value, "isoformat") and not isinstance(value, str):
            data[bound.html_name] = timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")
        else:
            data[bound.html_name] = str(value)
    for formset in response.context.get("inline_admin_formsets", []):
        management = formset.formset.management_form
        for name in management.fields:
            data[management[name].html_name] = management[name].value()
    return data
