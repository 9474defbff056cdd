"""`GET /api/v1/opportunities/{id}/contacts`: the contacts linked to an opportunity."""

from __future__ import annotations

from rest_framework import generics

from bulkapi.paging import EnvelopePagination
from contacts.api.serializers import ContactOutputSerializer
from contacts.api.views import CONTACT_LIST_SPEC
from contacts.filtersets import ContactFilter
from contacts.models import Contact

from .. import selectors


class OpportunityContactsApi(generics.ListAPIView):
    """In the shape, filters and sorts of `/api/v1/contacts`."""

    queryset = Contact.objects.none()
    serializer_class = ContactOutputSerializer
    pagination_class = EnvelopePagination
    filterset_class = ContactFilter
    list_spec = CONTACT_LIST_SPEC

    def get_queryset(self):
        opportunity = selectors.opportunity_get(site=self.request.user.site, id=self.kwargs["id"])
        return selectors.opportunity_contacts(opportunity=opportunity)
