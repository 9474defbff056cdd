"""Contacts and accounts over REST (`/api/v1/contacts`, `/api/v1/accounts`): list with filters and
paging, detail, create, partial update, delete, and each one's linked opportunities."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from doors.rest.contacts.serializers import (
    AccountInputSerializer,
    AccountOutputSerializer,
    ContactInputSerializer,
    ContactOutputSerializer,
)
from doors.rest.opportunities.opportunity_views import LIST_SPEC as OPPORTUNITY_LIST_SPEC
from doors.rest.opportunities.serializers import OpportunitySerializer
from entities.contacts import selectors, services
from entities.contacts.filtersets import AccountFilter, ContactFilter
from entities.contacts.models import Account, Contact
from entities.linkage import selectors as linkage_selectors
from entities.opportunities.filtersets import OpportunityFilterSet
from entities.opportunities.models import Opportunity
from kernel.paging import EnvelopePagination, ListSpec
from kernel.parsers import JSONParser

# orderBy names and `q` terms, as on every /api/v1 list.
CONTACT_LIST_SPEC = ListSpec(
    fields={
        "email": "email",
        "firstName": "first_name",
        "lastName": "last_name",
        "company": "company",
        "externalId": "external_id",
        "createdAt": "created_at",
        "updatedAt": "updated_at",
    },
    default_order=("id",),
)
ACCOUNT_LIST_SPEC = ListSpec(
    fields={
        "name": "name",
        "domain": "domain",
        "externalId": "external_id",
        "city": "city",
        "country": "country",
        "createdAt": "created_at",
        "updatedAt": "updated_at",
    },
    default_order=("id",),
)


class _SiteApi(generics.GenericAPIView):
    parser_classes = [JSONParser]
    pagination_class = EnvelopePagination

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "site": self.request.user.site}


class ContactListApi(_SiteApi, generics.ListAPIView):
    queryset = Contact.objects.none()  # the model, for schema generation; rows come from get_queryset
    serializer_class = ContactOutputSerializer
    filterset_class = ContactFilter
    list_spec = CONTACT_LIST_SPEC

    def get_queryset(self):
        return selectors.contact_list(site=self.request.user.site)

    @extend_schema(request=ContactInputSerializer, responses={201: ContactOutputSerializer})
    def post(self, request):
        data = ContactInputSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        contact = services.contact_create(site=request.user.site, **data.validated_data)
        return Response(ContactOutputSerializer(contact).data, status=status.HTTP_201_CREATED)


class ContactDetailApi(_SiteApi):
    serializer_class = ContactOutputSerializer

    def get_object(self):
        return selectors.contact_get(site=self.request.user.site, id=self.kwargs["id"])

    def get(self, request, id):
        return Response(ContactOutputSerializer(self.get_object()).data)

    @extend_schema(request=ContactInputSerializer, responses={200: ContactOutputSerializer})
    def patch(self, request, id):
        contact = self.get_object()
        data = ContactInputSerializer(data=request.data, partial=True, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        contact = services.contact_update(contact=contact, **data.validated_data)
        return Response(ContactOutputSerializer(contact).data)

    @extend_schema(responses={204: None})
    def delete(self, request, id):
        services.contact_delete(contact=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class _LinkedOpportunitiesApi(_SiteApi, generics.ListAPIView):
    """Linked opportunities, in the shape, filters and sorts of `/api/v1/opportunities`."""

    queryset = Opportunity.objects.none()
    serializer_class = OpportunitySerializer
    filterset_class = OpportunityFilterSet
    list_spec = OPPORTUNITY_LIST_SPEC


class ContactOpportunitiesApi(_LinkedOpportunitiesApi):
    """The opportunities linked to the contact (by linkage imports and batch uploads)."""

    def get_queryset(self):
        contact = selectors.contact_get(site=self.request.user.site, id=self.kwargs["id"])
        return linkage_selectors.contact_opportunities(contact=contact)


class AccountListApi(_SiteApi, generics.ListAPIView):
    queryset = Account.objects.none()
    serializer_class = AccountOutputSerializer
    filterset_class = AccountFilter
    list_spec = ACCOUNT_LIST_SPEC

    def get_queryset(self):
        return selectors.account_list(site=self.request.user.site)

    @extend_schema(request=AccountInputSerializer, responses={201: AccountOutputSerializer})
    def post(self, request):
        data = AccountInputSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        account = services.account_create(site=request.user.site, **data.validated_data)
        return Response(AccountOutputSerializer(account).data, status=status.HTTP_201_CREATED)


class AccountDetailApi(_SiteApi):
    serializer_class = AccountOutputSerializer

    def get_object(self):
        return selectors.account_get(site=self.request.user.site, id=self.kwargs["id"])

    def get(self, request, id):
        return Response(AccountOutputSerializer(self.get_object()).data)

    @extend_schema(request=AccountInputSerializer, responses={200: AccountOutputSerializer})
    def patch(self, request, id):
        account = self.get_object()
        data = AccountInputSerializer(data=request.data, partial=True, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        account = services.account_update(account=account, **data.validated_data)
        return Response(AccountOutputSerializer(account).data)

    @extend_schema(responses={204: None})
    def delete(self, request, id):
        services.account_delete(account=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class AccountOpportunitiesApi(_LinkedOpportunitiesApi):
    """The opportunities whose company is the account."""

    def get_queryset(self):
        account = selectors.account_get(site=self.request.user.site, id=self.kwargs["id"])
        return linkage_selectors.account_opportunities(account=account)
