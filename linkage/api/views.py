"""`GET /api/v1/opportunities/{id}/contacts`: the contacts linked to an opportunity."""

from __future__ import annotations

from rest_framework import generics

from contacts.api.pagination import EnvelopePagination
from contacts.api.serializers import ContactOutputSerializer

from .. import selectors


class OpportunityContactsApi(generics.ListAPIView):
    serializer_class = ContactOutputSerializer
    pagination_class = EnvelopePagination
    filter_backends = []

    def get_queryset(self):
        opportunity = selectors.opportunity_get(site=self.request.user.site, id=self.kwargs["id"])
        return selectors.opportunity_contacts(opportunity=opportunity)
