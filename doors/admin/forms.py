"""Forms of the back office: the admin login, the password forms, and the import wizard's steps."""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.forms import AdminPasswordChangeForm as OwnPasswordChangeForm
from django.contrib.auth import authenticate
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.core.exceptions import ValidationError

from entities.contacts.catalog import ACCOUNT, CONTACT
from entities.opportunities.catalog import OPPORTUNITY
from kernel.auth import login_account
from kernel.models import Site
from kernel.services import user_password_change
from kernel.throttle import login_attempt, login_failure_record, login_refusal, login_success_record
from pipeline.models import ImportDefinition

LOGIN_HELP = "Site\\user, e.g. Demo\\demo; a plain user name works when only one site has a user of that name."


class SiteUserLoginForm(AdminAuthenticationForm):
    """Admin login that says how to write the user name and accepts a plain one when unambiguous.

    A door that checks a password, throttled like the API's (kernel.throttle): over a limit, the
    form says how long to wait and checks nothing."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": "Please enter the correct user name (written Site\\user, e.g. Demo\\demo) and password "
        "of a staff account. Both may be case-sensitive.",
        "throttled": "Too many failed login attempts for this account or from this address. "
        "Try again in %(wait)d seconds.",
    }

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.fields["username"].label = "User name (Site\\user)"
        self.fields["username"].help_text = LOGIN_HELP
        self.fields["username"].widget.attrs["placeholder"] = "Site\\user"

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            attempt = login_attempt(self.request, account=login_account(username, allow_plain_name=True))
            wait = login_refusal(attempt)
            if wait is not None:
                raise ValidationError(self.error_messages["throttled"], code="throttled", params={"wait": wait})
            self.user_cache = authenticate(self.request, username=username, password=password, allow_plain_name=True)
            if self.user_cache is None:
                login_failure_record(attempt)
                raise self.get_invalid_login_error()
            login_success_record(attempt)
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class UserPasswordForm(AdminPasswordChangeForm):
    """The admin's "Change password" of a user (UserAdmin): sets the password, or disables password
    login, through `user_password_change`, which also ends the user's OAuth tokens."""

    def set_password_and_save(self, user, commit=True, **kwargs):
        usable = self.cleaned_data["set_usable_password"]
        return user_password_change(user=user, password=self.cleaned_data["password1"] if usable else None)


class OwnPasswordForm(OwnPasswordChangeForm):
    """/admin/password_change/: a user changing their own password, through `user_password_change`."""

    def set_password_and_save(self, user, password_field_name="new_password1", commit=True):
        return user_password_change(user=user, password=self.cleaned_data[password_field_name])


IMPORT_ENTITIES = [
    (OPPORTUNITY.entity, "Opportunities"),
    (CONTACT.entity, "Contacts"),
    (ACCOUNT.entity, "Accounts"),
]


class ImportUploadForm(forms.Form):
    """Step 1: an existing definition, or a new one built from the file's header; and the CSV."""

    definition = forms.ModelChoiceField(
        queryset=ImportDefinition.objects.none(),
        required=False,
        empty_label="(new definition from the file's header)",
        help_text="The import definition whose columns the file has. Leave empty to build a new one from the "
        "file's header, with suggested mappings.",
    )
    entity = forms.ChoiceField(
        choices=IMPORT_ENTITIES, required=False, help_text="For a new definition: what the rows are."
    )
    site = forms.ModelChoiceField(queryset=Site.objects.order_by("name"), required=False)
    file = forms.FileField(help_text="A UTF-8 CSV file whose first row names the columns.")

    def __init__(self, *args, definitions=None, pick_site: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["definition"].queryset = definitions
        self.fields["definition"].label_from_instance = (
            (lambda d: f"{d.name} ({d.get_entity_display()}, {d.site})")
            if pick_site
            else (lambda d: f"{d.name} ({d.get_entity_display()})")
        )
        if not pick_site:
            del self.fields["site"]
        else:
            self.fields["site"].help_text = "For a new definition: the site it belongs to."

    def clean(self):
        data = super().clean()
        if data.get("definition") is None:
            if not data.get("entity"):
                self.add_error("entity", "Pick what the rows are, for a new definition.")
            if "site" in self.fields and data.get("site") is None:
                self.add_error("site", "Pick the site the new definition belongs to.")
        return data


def mapping_field(choices: list[tuple[str, str]], suggested: str) -> forms.ChoiceField:
    return forms.ChoiceField(choices=[("", "(ignore this column)"), *choices], required=False, initial=suggested)


def validate_new_name(value: str) -> None:
    if not value.strip():
        raise ValidationError("Required.")
