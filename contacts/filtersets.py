"""List filters for `/api/v1/contacts` and `/api/v1/accounts`."""

from __future__ import annotations

import django_filters
from django.db.models import Q

from bulkapi.filters import IsoDateTimeFilter

from .domains import normalise_domain
from .models import Account, Contact


class ContactFilter(django_filters.FilterSet):
    email = django_filters.CharFilter(field_name="email", lookup_expr="iexact", help_text="Exact, any letter case.")
    name = django_filters.CharFilter(method="filter_name", help_text="Part of the first or last name.")
    externalId = django_filters.CharFilter(field_name="external_id")  # noqa: N815 - the wire name
    account = django_filters.UUIDFilter(field_name="account__uuid", help_text="The account's id.")
    company = django_filters.CharFilter(field_name="company", lookup_expr="icontains")
    updatedSince = IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")  # noqa: N815

    class Meta:
        model = Contact
        fields = []

    def filter_name(self, queryset, name, value):
        return queryset.filter(Q(first_name__icontains=value) | Q(last_name__icontains=value))


class AccountFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(field_name="name", lookup_expr="icontains", help_text="Part of the name.")
    domain = django_filters.CharFilter(method="filter_domain", help_text="Normalised before matching.")
    externalId = django_filters.CharFilter(field_name="external_id")  # noqa: N815
    updatedSince = IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")  # noqa: N815

    class Meta:
        model = Account
        fields = []

    def filter_domain(self, queryset, name, value):
        return queryset.filter(domain=normalise_domain(value))
