"""`manage.py changepassword [Site\\User]`: Django's command, for our users.

It replaces django.contrib.auth's (commands of the app listed first in INSTALLED_APPS win, and
backoffice comes before django.contrib.auth): user names are unique per site, so the user is named
`Site\\User` (any letter case; a plain name is a user of no site, such as a superuser), and the new
password goes through `kernel.services.user_password_change`, which ends the user's OAuth tokens."""

from __future__ import annotations

import getpass

from django.contrib.auth.management.commands import changepassword
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.db.models.functions import Lower

from kernel.auth import split_site_username
from kernel.models import User
from kernel.services import user_password_change

MAX_TRIES = 3


def user_named(login: str) -> User | None:
    """The user (active or not) that `Site\\User` or a site-less plain name names."""
    site_name, username = split_site_username(login)
    users = User.objects.select_related("site").annotate(lname=Lower("username")).filter(lname=username.lower())
    if site_name is None:
        return users.filter(site__isnull=True).first()
    return users.annotate(sname=Lower("site__name")).filter(sname=site_name.lower()).first()


class Command(changepassword.Command):
    help = "Change a user's password (Site\\User); ends the user's OAuth tokens, keeps their API tokens."

    def handle(self, *args, **options):
        login = options["username"] or getpass.getuser()
        user = user_named(login)
        if user is None:
            raise CommandError(f"user '{login}' does not exist (write it Site\\User)")
        self.stdout.write(f"Changing password for user '{user}'")
        for _ in range(MAX_TRIES):
            first, second = self._get_pass(), self._get_pass("Password (again): ")
            if first != second:
                self.stdout.write("Passwords do not match. Please try again.")
                continue
            try:
                validate_password(second, user)
            except ValidationError as err:
                self.stderr.write("\n".join(err.messages))
                continue
            user_password_change(user=user, password=first)
            return f"Password changed successfully for user '{user}'; their OAuth tokens are revoked"
        raise CommandError(f"Aborting password change for user '{user}' after {MAX_TRIES} attempts")
