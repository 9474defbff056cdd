"""`GET /api/v1/opportunities/{id}/contacts`: the contacts linked to an opportunity."""

from __future__ import annotations

from rest_framework import generics

from doors.rest.contacts.serializers import ContactOutputSerializer
from doors.rest.contacts.views import CONTACT_LIST_SPEC
from entities.contacts.filtersets import ContactFilter
from entities.contacts.models import Contact
from entities.linkage import selectors
from kernel.paging import EnvelopePagination


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
