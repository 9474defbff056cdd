from pipeline.models import ImportDefinition
from pipeline.services.imports import import_definition_create
from tests.factories import UserFactory


def link_definition(site, fields=None, **props) -> ImportDefinition:
    """A linkage import made through the same validation the API uses."""
    body = {
        "name": "Linkage",
        "fields": fields
        or {"EmailAddress": "{{Opportunity.Contact.Field(C_EmailAddress)}}", "OpportunityID": "{{Opportunity.Id}}"},
        **props,
    }
    return import_definition_create(site=site, user=UserFactory(site=site), entity="opportunity_link", body=body)
