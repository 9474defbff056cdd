"""Wire shapes of contacts and accounts (camelCase; `id` is the record's uuid)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from bulkapi.exceptions import Failure, ValidationFailed
from opportunities.models import Opportunity

from ..models import Account, Contact
from . import examples


class AccountRefSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="uuid")
    name = serializers.CharField()


@extend_schema_serializer(examples=examples.CONTACT_EXAMPLES)
class ContactOutputSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid")
    firstName = serializers.CharField(source="first_name", allow_null=True)  # noqa: N815
    lastName = serializers.CharField(source="last_name", allow_null=True)  # noqa: N815
    externalId = serializers.CharField(source="external_id", allow_null=True)  # noqa: N815
    visitorId = serializers.CharField(source="visitor_id", allow_null=True)  # noqa: N815
    account = AccountRefSerializer(allow_null=True)
    customFields = serializers.JSONField(source="custom_fields")  # noqa: N815
    createdAt = serializers.DateTimeField(source="created_at")  # noqa: N815
    updatedAt = serializers.DateTimeField(source="updated_at")  # noqa: N815

    class Meta:
        model = Contact
        fields = ["id", "email", "firstName", "lastName", "phone", "company", "country", "externalId", "visitorId",
                  "account", "customFields", "createdAt", "updatedAt"]  # fmt: skip


@extend_schema_serializer(examples=examples.CONTACT_INPUT_EXAMPLES)
class ContactInputSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254, required=False, allow_null=True, allow_blank=True)
    firstName = serializers.CharField(
        source="first_name", max_length=100, required=False, allow_null=True, allow_blank=True
    )  # noqa: N815, E501
    lastName = serializers.CharField(
        source="last_name", max_length=100, required=False, allow_null=True, allow_blank=True
    )  # noqa: N815, E501
    phone = serializers.CharField(max_length=50, required=False, allow_null=True, allow_blank=True)
    company = serializers.CharField(max_length=255, required=False, allow_null=True, allow_blank=True)
    country = serializers.CharField(max_length=100, required=False, allow_null=True, allow_blank=True)
    externalId = serializers.CharField(
        source="external_id", max_length=255, required=False, allow_null=True, allow_blank=True
    )  # noqa: N815, E501
    visitorId = serializers.CharField(
        source="visitor_id", max_length=255, required=False, allow_null=True, allow_blank=True
    )  # noqa: N815, E501
    account = serializers.UUIDField(required=False, allow_null=True, help_text="The account's id.")
    customFields = serializers.DictField(source="custom_fields", required=False)  # noqa: N815

    def validate_account(self, value):
        if value is None:
            return None
        account = Account.objects.for_site(self.context["request"].user.site).filter(uuid=value).first()
        if account is None:
            raise ValidationFailed([Failure(field="account", value=str(value), constraint="No such account.")])
        return account


@extend_schema_serializer(examples=examples.ACCOUNT_EXAMPLES)
class AccountOutputSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid")
    externalId = serializers.CharField(source="external_id", allow_null=True)  # noqa: N815
    customFields = serializers.JSONField(source="custom_fields")  # noqa: N815
    createdAt = serializers.DateTimeField(source="created_at")  # noqa: N815
    updatedAt = serializers.DateTimeField(source="updated_at")  # noqa: N815

    class Meta:
        model = Account
        fields = ["id", "name", "domain", "externalId", "city", "country", "customFields", "createdAt", "updatedAt"]


@extend_schema_serializer(examples=examples.ACCOUNT_INPUT_EXAMPLES)
class AccountInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255, required=True)
    domain = serializers.CharField(max_length=255, required=False, allow_null=True, allow_blank=True)
    externalId = serializers.CharField(
        source="external_id", max_length=255, required=False, allow_null=True, allow_blank=True
    )  # noqa: N815, E501
    city = serializers.CharField(max_length=100, required=False, allow_null=True, allow_blank=True)
    country = serializers.CharField(max_length=100, required=False, allow_null=True, allow_blank=True)
    customFields = serializers.DictField(source="custom_fields", required=False)  # noqa: N815


@extend_schema_serializer(examples=examples.OPPORTUNITY_SUMMARY_EXAMPLES)
class OpportunitySummarySerializer(serializers.ModelSerializer):
    """The few fields of a linked opportunity; the opportunity REST API has the whole record."""

    id = serializers.UUIDField(source="uuid")
    externalId = serializers.CharField(source="external_id")  # noqa: N815
    stage = serializers.CharField(source="stage.name")

    class Meta:
        model = Opportunity
        fields = ["id", "externalId", "name", "amount", "stage"]
