"""Statements of opportunity-contact linkage imports (reference 4 and 5.2).

`{{Opportunity.Id}}` names the opportunity; the source is any contact field as
`{{Opportunity.Contact.Field(<internal name>)}}` / `{{Opportunity.Contact.Id}}`, or any account field as
`{{Opportunity.Account.Field(<internal name>)}}` / `{{Opportunity.Account.Id}}`, the site's custom fields
included. The list is derived from the contact and account catalogs, so it never drifts from them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from entities.contacts.catalog import ACCOUNT, CONTACT
from entities.linkage.definitions import render_linkage, validate_linkage
from kernel.models import Site
from pipeline.catalog import EntitySpec, FieldSpec
from pipeline.models import DataType

OPPORTUNITY_ID = FieldSpec(
    1, "Opportunity ID", "RemoteOpportunityID", "{{Opportunity.Id}}", DataType.STRING, "external_id", 255, not_null=True
)
MATCH_KEY = "opportunity.id"
CONTACT_PREFIX = "opportunity.contact."
ACCOUNT_PREFIX = "opportunity.account."


def source_kind(field: FieldSpec) -> str | None:
    """`Contact` or `Account` for a source statement, None for `{{Opportunity.Id}}`."""
    key = field.key
    if key.startswith(CONTACT_PREFIX):
        return "Contact"
    if key.startswith(ACCOUNT_PREFIX):
        return "Account"
    return None


def _as_source(field: FieldSpec, root: str) -> FieldSpec:
    statement = field.statement.replace("{{" + root + ".", "{{Opportunity." + root + ".", 1)
    return replace(field, statement=statement, read_only=False)


@dataclass(frozen=True)
class LinkageSpec(EntitySpec):
    def fields_for(self, site: Site) -> list[FieldSpec]:
        out = list(self.standard)
        for root, spec in (("Contact", CONTACT), ("Account", ACCOUNT)):
            for field in (*spec.fields_for(site), *spec.hidden):
                if field.column == "account_id":
                    continue  # {{Contact.Account.…}} is an import column, not a link source
                out.append(_as_source(field, root))
        return out


OPPORTUNITY_LINK = LinkageSpec(
    entity="opportunity_link",
    label="Opportunity linkage",
    imports_uri="/opportunities/contacts/imports",
    case_sensitive_flag="never",
    validate_extra=validate_linkage,
    render_extra=render_linkage,
    statement_root="opportunity",
    fields_uri="/opportunities/contacts/fields",
    standard=(OPPORTUNITY_ID,),
    required=(MATCH_KEY,),
)
