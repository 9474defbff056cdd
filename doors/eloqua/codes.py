"""What the Eloqua door (`/api/bulk/2.0/syncs/{id}/logs` and `/rejects`) answers for our own codes.

Every `statusCode` Eloqua answers matches `ELQ-\\d{5}`, and clients split on it, so this door shows
only Eloqua's codes, each with Eloqua's exact text (reference `eloqua-bulk-api.md` section 10). Our own
`SRV-` codes are what we store (`SyncLog.status_code`, `Reject.status_code`): the doors that are ours
(the REST API, the batch door's error files, the admin, `manage.py syncs`) show them as they are, and
the retry (`pipeline.services.recover`) finds the rows to stage again by them. Here, each is either
answered as the closest documented Eloqua code, or (log entries only) left out of the list.

A reject is never left out (every rejected row is listed); a code this table does not know is
answered as ELQ-00032, and `tests/doors/eloqua/test_eloqua_codes.py` fails until it is added here.
"""

from __future__ import annotations

import re

from django.db.models import Q, QuerySet

from entities.linkage.catalog import OPPORTUNITY_LINK
from pipeline.codes import Code

ELOQUA_CODE = re.compile(r"^ELQ-\d{5}$")

# Our code -> the Eloqua code and text this door answers instead.
AS_ELOQUA: dict[str, tuple[str, str]] = {
    # A row the sync did not reach: it ended in error (SRV-00100) or was cancelled (SRV-00101).
    # ELQ-00146 is Eloqua's only per-sync failure that says nothing is wrong with the row and that it
    # may be sent again, which is what these rows are (`POST /syncs/{id}/retry` stages them again).
    Code.NOT_PROCESSED: Code.TEMPORARY_ERROR.pair,
    Code.CANCELLED: Code.TEMPORARY_ERROR.pair,
    # A contact or account import naming an account that does not exist (a contact's account
    # reference; an account identifier under `updateOnly` or `{{Account.Id}}`): Eloqua has no
    # "account does not exist" code; the value of the field `invalidFields` names is what is wrong,
    # which Eloqua calls a malformed record. Linkage: see BY_ENTITY.
    Code.NO_ACCOUNT: Code.MALFORMED.pair,
    # Linkage in Contact mode: more than one contact matched and multiple matches are not allowed.
    Code.DUPLICATE_CONTACT_LINK: Code.MULTIPLE_MATCHES.pair,
}
# Where the same code means something else for one entity.
BY_ENTITY: dict[tuple[str, str], tuple[str, str]] = {
    # Linkage in Account mode, no account (so no contact) matched: Eloqua answers ELQ-00085 (reference
    # 9.3: "accounts then all of each account's contacts ...; none => reject ELQ-00085").
    (OPPORTUNITY_LINK.entity, Code.NO_ACCOUNT): Code.NO_CONTACT.pair,
}
# Log entries of ours with no Eloqua counterpart, left out of this door's logs:
LEFT_OUT: tuple[Code, ...] = (
    # Eloqua has no "updated" code for opportunities (contacts and accounts log ELQ-00022 and
    # ELQ-00023 beside it); processed minus new minus rejected gives it.
    Code.TOTAL_UPDATED,
    # The sync's end is ELQ-00101 "... resulting in error status."; the rows it did not reach are
    # counted by the ELQ-00146 entry (from their rejects). Who cancelled, and the error's reference,
    # are in the REST API and the admin.
    Code.CANCELLED_BY,
    Code.FAILED,
    # Rows not reached that could not even be listed as rejects: counted in ELQ-00060.
    Code.UNLISTED,
    # Linkage counters: ELQ-00049 counts the linked rows, the per-reason reject entries the rest.
    Code.LINKED,
    Code.LINKS_CREATED,
    Code.UNMATCHED,
    Code.AMBIGUOUS,
)


def as_eloqua(code: str, message: str, entity: str | None) -> tuple[str, str]:
    """The (statusCode, message) this door answers for a stored code and message."""
    if ELOQUA_CODE.match(code):
        return code, message
    return BY_ENTITY.get((entity, code)) or AS_ELOQUA.get(code) or Code.MALFORMED.pair


def eloqua_logs(qs: QuerySet) -> QuerySet:
    """The log entries this door lists: Eloqua's codes and those it answers for ours (by a filter, so
    paging and `totalResults` count what is listed)."""
    return qs.filter(Q(status_code__startswith="ELQ-") | Q(status_code__in=list(AS_ELOQUA)))
