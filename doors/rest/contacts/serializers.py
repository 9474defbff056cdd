"""Wire shapes of contacts and accounts: camelCase, `id` is the record's uuid, the account is a
nested object on read and `accountId` on write (as an opportunity's `company` / `companyId`).
Inputs are strict: unknown and read-only properties are a 400 naming them."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from doors.rest.contacts import examples
from doors.rest.opportunities.fields import StrictCharField, StrictInputMixin, utc_datetime_field
from doors.rest.opportunities.serializers import CompanyRef
from entities.contacts.models import Account, Contact


class AccountRef(CompanyRef):
    noun, kind = "account", "an account uuid"


class AccountRefSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    name = serializers.CharField(read_only=True)


@extend_schema_serializer(examples=examples.CONTACT_EXAMPLES)
class ContactOutputSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    email = serializers.CharField(read_only=True, allow_null=True)
    firstName = serializers.CharField(source="first_name", read_only=True, allow_null=True)  # noqa: N815
    lastName = serializers.CharField(source="last_name", read_only=True, allow_null=True)  # noqa: N815
    phone = serializers.CharField(read_only=True, allow_null=True)
    company = serializers.CharField(read_only=True, allow_null=True)
    country = serializers.CharField(read_only=True, allow_null=True)
    externalId = serializers.CharField(source="external_id", read_only=True, allow_null=True)  # noqa: N815
    visitorId = serializers.CharField(source="visitor_id", read_only=True, allow_null=True)  # noqa: N815
    account = AccountRefSerializer(read_only=True, allow_null=True)
    customFields = serializers.JSONField(source="custom_fields", read_only=True)  # noqa: N815
    createdAt = utc_datetime_field(source="created_at")  # noqa: N815
    updatedAt = utc_datetime_field(source="updated_at")  # noqa: N815

    class Meta:
        model = Contact
        fields = ["id", "email", "firstName", "lastName", "phone", "company", "country", "externalId", "visitorId",
                  "account", "customFields", "createdAt", "updatedAt"]  # fmt: skip


def _text(max_length: int, **kwargs) -> StrictCharField:
    return StrictCharField(max_length=max_length, required=False, allow_null=True, allow_blank=True, **kwargs)


@extend_schema_serializer(examples=examples.CONTACT_INPUT_EXAMPLES)
class ContactInputSerializer(StrictInputMixin, serializers.Serializer):
    """POST and PATCH of a contact; `context["site"]` is required (for `accountId`)."""

    read_only_names = frozenset({"id", "account", "createdAt", "updatedAt"})

    email = _text(254)
    firstName = _text(100, source="first_name")  # noqa: N815
    lastName = _text(100, source="last_name")  # noqa: N815
    phone = _text(50)
    company = _text(255)
    country = _text(100)
    externalId = _text(255, source="external_id")  # noqa: N815
    visitorId = _text(255, source="visitor_id")  # noqa: N815
    accountId = AccountRef(source="account", required=False, allow_null=True)  # noqa: N815
    customFields = serializers.DictField(source="custom_fields", required=False)  # noqa: N815


@extend_schema_serializer(examples=examples.ACCOUNT_EXAMPLES)
class AccountOutputSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    name = serializers.CharField(read_only=True)
    domain = serializers.CharField(read_only=True, allow_null=True)
    externalId = serializers.CharField(source="external_id", read_only=True, allow_null=True)  # noqa: N815
    city = serializers.CharField(read_only=True, allow_null=True)
    country = serializers.CharField(read_only=True, allow_null=True)
    customFields = serializers.JSONField(source="custom_fields", read_only=True)  # noqa: N815
    createdAt = utc_datetime_field(source="created_at")  # noqa: N815
    updatedAt = utc_datetime_field(source="updated_at")  # noqa: N815

    class Meta:
        model = Account
        fields = ["id", "name", "domain", "externalId", "city", "country", "customFields", "createdAt", "updatedAt"]


@extend_schema_serializer(examples=examples.ACCOUNT_INPUT_EXAMPLES)
class AccountInputSerializer(StrictInputMixin, serializers.Serializer):
    read_only_names = frozenset({"id", "createdAt", "updatedAt"})

    name = StrictCharField(max_length=255)
    domain = _text(255)
    externalId = _text(255, source="external_id")  # noqa: N815
    city = _text(100)
    country = _text(100)
    customFields = serializers.DictField(source="custom_fields", required=False)  # noqa: N815
