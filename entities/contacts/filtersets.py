"""List filters for `/api/v1/contacts` and `/api/v1/accounts` (values checked as for opportunities)."""

from __future__ import annotations

import django_filters
from django.db.models import Q

from entities.contacts.domains import normalise_domain
from entities.contacts.models import Account, Contact
from kernel.filters import IsoDateTimeFilter, TextFilter


class ContactFilter(django_filters.FilterSet):
    email = TextFilter(field_name="email", lookup_expr="iexact", help_text="Exact, any letter case.")
    name = TextFilter(method="filter_name", help_text="Part of the first or last name.")
    externalId = TextFilter(field_name="external_id")  # noqa: N815 - the wire name
    accountId = django_filters.UUIDFilter(field_name="account__uuid", help_text="The account's id.")  # noqa: N815
    company = TextFilter(field_name="company", lookup_expr="icontains")
    updatedSince = IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")  # noqa: N815

    class Meta:
        model = Contact
        fields = []

    def filter_name(self, queryset, name, value):
        return queryset.filter(Q(first_name__icontains=value) | Q(last_name__icontains=value))


class AccountFilter(django_filters.FilterSet):
    name = TextFilter(field_name="name", lookup_expr="icontains", help_text="Part of the name.")
    domain = TextFilter(method="filter_domain", help_text="Normalised before matching.")
    externalId = TextFilter(field_name="external_id")  # noqa: N815
    updatedSince = IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")  # noqa: N815

    class Meta:
        model = Account
        fields = []

    def filter_domain(self, queryset, name, value):
        return queryset.filter(domain=normalise_domain(value))
