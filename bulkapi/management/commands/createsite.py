"""`manage.py createsite NAME --user USER --password PASS [--token TOKEN] [--staff]`: idempotent set-up."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from backoffice.services import STAFF_GROUP, staff_user_grant
from bulkapi.services import api_token_create, site_create, user_set


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

    def handle(self, *args, name, user, password, token=None, staff=False, **options):
        with transaction.atomic():
            site, site_created = site_create(name=name)
            account, user_was = user_set(site=site, username=user, password=password)
            if staff:
                staff_user_grant(user=account)
            self.stdout.write(f"site {site.name} (id {site.pk}): {'created' if site_created else 'exists'}")
            self.stdout.write(
                f"user {site.name}\\{account.username}: {user_was}" + (f", staff ({STAFF_GROUP})" if staff else "")
            )
            if token:
                try:
                    _, _, token_created = api_token_create(user=account, raw=token, name="createsite")
                except ValueError as exc:
                    raise CommandError(str(exc)) from exc
                self.stdout.write(f"token {token[:8]}…: {'created' if token_created else 'exists'}")
