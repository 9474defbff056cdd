"""Every status code the pipeline writes into sync logs and rejects, each with its message: one enum,
used everywhere, never a string literal. `ELQ-` codes are Eloqua's own (reference 10: the same code
for the same condition, with Eloqua's text); `SRV-` codes are this server's, for conditions Eloqua
does not report (a door that speaks only Eloqua's codes maps them: doors.eloqua)."""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    """`Code.EMPTY == "ELQ-00059"`; `Code.EMPTY.message` is its text, `.pair` both."""

    message: str

    def __new__(cls, value: str, message: str) -> Code:
        member = str.__new__(cls, value)
        member._value_ = value
        member.message = message
        return member

    @property
    def pair(self) -> tuple[str, str]:
        return self.value, self.message

    # Log entries of every sync (reference 10)
    TOTAL_PROCESSED = "ELQ-00001", "Total records processed."
    TOTAL_NEW = "ELQ-00049", "Total new records."
    TOTAL_REJECTED = "ELQ-00060", "Total rejected records."
    SYNC_PROCESSED = "ELQ-00101", "Sync processed for sync {sync}, resulting in {status} status."
    FIELD_NOT_IN_DEFINITION = "ELQ-00111", "Field {field} is not part of import definition, and will be ignored."
    FIELD_NOT_IN_FILE = "ELQ-00121", "Field {field} is part of import definition, but not included in file {file}."
    NO_DATA = "ELQ-00124", "There was no data available to process."
    TOTAL_STAGED = "ELQ-00130", "Total records staged for import."
    STAGING_DELETED = "ELQ-00131", "Deleted internal staging for data transfer."
    READY = "ELQ-00137", "Ready for data import processing."
    TOTAL_UPDATED = "SRV-00001", "Total updated records."
    CANCELLED_BY = "SRV-00102", "Sync cancelled by {user}."
    FAILED = "SRV-00103", "The sync failed."  # the log's message is the failure's own text
    # Entity log entries
    CONTACTS_CREATED = "ELQ-00004", "Contacts created."
    ACCOUNTS_CREATED = "ELQ-00005", "Accounts created."
    CONTACTS_UPDATED = "ELQ-00022", "Contacts updated."
    ACCOUNTS_UPDATED = "ELQ-00023", "Accounts updated."
    LINKED = "SRV-00201", "Total linked records."
    LINKS_CREATED = "SRV-00202", "Opportunity contact links created."
    UNMATCHED = "SRV-00203", "Total unmatched records."
    AMBIGUOUS = "SRV-00204", "Total ambiguous records."
    # Rejects
    DUPLICATE = "ELQ-00026", "Duplicate identifier."
    MALFORMED = "ELQ-00032", "Malformed records."
    INVALID_STAGE = "ELQ-00039", "Invalid opportunity stage."
    EMPTY = "ELQ-00059", "Empty records."
    MISSING_FIELDS = "ELQ-00061", "Rejected records (missing fields)."
    DUPLICATE_ACCOUNT_LINK = "ELQ-00062", "Duplicate account linkage."
    NO_OPPORTUNITY = "ELQ-00084", "Opportunity does not exist."
    NO_CONTACT = "ELQ-00085", "Contact does not exist."
    DUPLICATE_CONTACT_LINK = "SRV-00062", "Duplicate contact linkage."
    NO_ACCOUNT = "SRV-00085", "Account does not exist."
    NOT_PROCESSED = "SRV-00100", "Not processed: the sync ended in error."
    CANCELLED = "SRV-00101", "Not processed: the sync was cancelled."
    UNLISTED = "SRV-00104", "Not processed, and not listed as rejects: the sync ended in error."
    # Eloqua's, not stored: what the Eloqua door answers for some of ours (doors/eloqua/codes.py)
    MULTIPLE_MATCHES = "ELQ-00135", "Multiple matched record limit exceeded."
    TEMPORARY_ERROR = "ELQ-00146", "The sync failed because of a temporary error."


def messages(*codes: Code) -> dict[str, str]:
    """`{code: message}` of `codes`, for a statement's `JOIN (VALUES ...) msg(code, text)`."""
    return {code.value: code.message for code in codes}
