"""`manage.py createsite NAME --user USER --password PASS [--token TOKEN] [--staff] [--if-missing]`.

Explicit use is idempotent and sets what it is given: the user gets that password, a disabled user
is enabled again and a revoked token that is named again is valid again (an operator's deliberate
act). `--if-missing` is for bootstraps that run on every start (docker-compose's migrate service):
it creates what is missing and changes nothing that exists, so a revocation or a disabled user
survives the next `up`.
"""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from doors.admin.services import STAFF_GROUP, staff_user_grant
from kernel.models import User
from kernel.services import api_token_create, site_create, user_get, user_set


class Command(BaseCommand):
    help = "Create or update a site, a user of it and (optionally) that exact API token."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--user", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--token", help="Register exactly this API token for the user.")
        parser.add_argument(
            "--staff",
            action="store_true",
            help=f"Let the user log in to /admin, as a member of the {STAFF_GROUP!r} group (their site only).",
        )
        parser.add_argument(
            "--if-missing",
            action="store_true",
            help=(
                "Create only what does not exist yet; never reset a password, enable a disabled user, grant "
                "staff to an existing user or make a revoked token valid again (for bootstraps run on every start)."
            ),
        )

    def handle(self, *args, name, user, password, token=None, staff=False, if_missing=False, **options):
        with transaction.atomic():
            site, site_created = site_create(name=name)
            said = [f"site {site.name} (id {site.pk}): {'created' if site_created else 'exists'}"]
            existing = user_get(site=site, username=user)
            account = existing if if_missing else None
            if account is not None:
                said.append(f"user {site.name}\\{account.username}: exists, left as it is")
            else:
                try:  # AUTH_PASSWORD_VALIDATORS, as the admin's password forms apply them
                    validate_password(password, user=existing or User(site=site, username=user))
                except ValidationError as exc:
                    raise CommandError("The password is refused: " + " ".join(exc.messages)) from None
                account, user_was = user_set(site=site, username=user, password=password)
                if staff:
                    staff_user_grant(user=account)
                said.append(
                    f"user {site.name}\\{account.username}: {user_was}" + (f", staff ({STAFF_GROUP})" if staff else "")
                )
            if token:
                try:
                    found, _, token_created = api_token_create(
                        user=account, raw=token, name="createsite", revive=not if_missing
                    )
                except ValueError as exc:
                    raise CommandError(str(exc)) from exc
                state = "created" if token_created else "exists"
                if found.revoked_at is not None:
                    state += ", revoked: left as it is"
                said.append(f"token {token[:8]}…: {state}")
        self.stdout.write("\n".join(said))
