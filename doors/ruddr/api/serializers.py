"""Ruddr's wire shapes (the document `seeds/002_…`): every id a uuid string, camelCase names.

One serializer per wire shape renders the answers and documents them in the OpenAPI schema. Input
serializers check shape, types and the document's rules, and turn ids into the site's records
(another site's id is "not found"); `entities.opportunities.services` writes.
"""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from doors.rest.opportunities.fields import (
    CurrencyField,
    NumberField,
    StrictBooleanField,
    StrictCharField,
    StrictInputMixin,
    YmdDateField,
    utc_datetime_field,
)
from doors.rest.opportunities.serializers import CompanyRef, SiteUuidRef, effective_probability, parse_uuid
from entities.opportunities.models import (
    LeadSource,
    Opportunity,
    OpportunityType,
    Owner,
    Practice,
    Priority,
    Project,
    Stage,
    StageStatus,
    Tag,
)

MAX_TAGS = 100
MAX_PROJECTS = 100


@extend_schema_field(OpenApiTypes.NUMBER)
class WireNumberField(serializers.Field):
    """A stored decimal as a JSON number: an integer when it is whole (`50000`), else a float."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value: Decimal):
        return wire_number(value)


def wire_number(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


# --- references, as they appear inside an opportunity -----------------------------------------


class RuddrNamedRefSerializer(serializers.Serializer):
    """`{id, name}`: an owner, opportunity type, lead source, practice or tag."""

    id = serializers.UUIDField(source="uuid", read_only=True)
    name = serializers.CharField(read_only=True)


class RuddrClientSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    key = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)


def _client_of(account):
    """The account's client, or None (the reverse one-to-one raises when there is none)."""
    try:
        return account.client
    except account.__class__.client.RelatedObjectDoesNotExist:
        return None


class RuddrCompanySerializer(serializers.Serializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    name = serializers.CharField(read_only=True)
    client = serializers.SerializerMethodField()

    @extend_schema_field(RuddrClientSerializer(allow_null=True))
    def get_client(self, account) -> dict | None:
        client = _client_of(account)
        return None if client is None else RuddrClientSerializer(client).data


class RuddrStageRefSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    name = serializers.CharField(read_only=True)
    statusId = serializers.ChoiceField(source="status", choices=StageStatus.choices, read_only=True)


class RuddrProjectLineSerializer(serializers.Serializer):
    """A project of an opportunity, with the part of the amount that is that project's."""

    id = serializers.UUIDField(source="project.uuid", read_only=True)
    name = serializers.CharField(source="project.name", read_only=True)
    amount = WireNumberField(allow_null=True)


# --- the opportunity ---------------------------------------------------------------------------


class RuddrOpportunitySerializer(serializers.Serializer):
    """An opportunity in Ruddr's shape, whichever door it came in by. Needs
    `entities.opportunities.selectors.opportunity_list_detailed` (everything is loaded once per page)."""

    id = serializers.UUIDField(source="uuid", read_only=True)
    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True, allow_null=True)
    nextSteps = serializers.CharField(source="next_steps", read_only=True, allow_null=True)
    amount = WireNumberField(allow_null=True)
    isActive = serializers.BooleanField(source="is_active", read_only=True)
    probability = serializers.SerializerMethodField()
    priorityId = serializers.ChoiceField(source="priority", choices=Priority.choices, read_only=True, allow_null=True)
    createdAt = utc_datetime_field(source="created_at")
    openDate = serializers.DateField(source="open_date", read_only=True, allow_null=True)
    closeDate = serializers.DateField(source="close_date", read_only=True, allow_null=True)
    modifiedAt = utc_datetime_field(source="updated_at")
    currency = serializers.SerializerMethodField()
    cloudFolderUrl = serializers.CharField(source="cloud_folder_url", read_only=True, allow_null=True)
    owner = RuddrNamedRefSerializer(read_only=True, allow_null=True)
    opportunityType = RuddrNamedRefSerializer(source="opportunity_type", read_only=True, allow_null=True)
    opportunityLeadSource = RuddrNamedRefSerializer(source="lead_source", read_only=True, allow_null=True)
    company = RuddrCompanySerializer(read_only=True, allow_null=True)
    practice = RuddrNamedRefSerializer(read_only=True, allow_null=True)
    tags = RuddrNamedRefSerializer(many=True, read_only=True)
    opportunityStage = RuddrStageRefSerializer(source="stage", read_only=True)
    projects = RuddrProjectLineSerializer(source="project_lines", many=True, read_only=True)
    weightedAmount = serializers.SerializerMethodField()
    timeSpent = serializers.SerializerMethodField()
    salesforceId = serializers.CharField(source="salesforce_id", read_only=True, allow_null=True)
    hubspotId = serializers.CharField(source="hubspot_id", read_only=True, allow_null=True)

    @extend_schema_field(serializers.FloatField(help_text="0 to 1: the opportunity's own, else its stage's, else 0."))
    def get_probability(self, opp: Opportunity) -> int | float:
        return wire_number(effective_probability(opp)) or 0

    @extend_schema_field(serializers.CharField(help_text="3-letter code; the site's currency when none was set."))
    def get_currency(self, opp: Opportunity) -> str:
        return opp.currency or self.context["site"].default_currency

    @extend_schema_field(
        serializers.FloatField(allow_null=True, help_text="amount x probability; null without amount.")
    )
    def get_weightedAmount(self, opp: Opportunity) -> int | float | None:  # noqa: N802 - wire name
        p = effective_probability(opp) or Decimal(0)
        if opp.amount is None:
            return None
        return wire_number((opp.amount * p).quantize(Decimal("0.0001")))

    @extend_schema_field(serializers.IntegerField(help_text="Minutes; 0: this server tracks no time."))
    def get_timeSpent(self, opp: Opportunity) -> int:  # noqa: N802 - wire name
        return 0


@extend_schema_field(OpenApiTypes.UUID)
class StrictUuidField(serializers.Field):
    default_error_messages = {"invalid": "Must be an id (uuid)."}

    def to_internal_value(self, data):
        return parse_uuid(data) or self.fail("invalid")


class StageRef(SiteUuidRef):
    model, noun = Stage, "opportunity stage"


class OwnerRef(SiteUuidRef):
    model, noun = Owner, "member"


class OpportunityTypeRef(SiteUuidRef):
    model, noun = OpportunityType, "opportunity type"


class LeadSourceRef(SiteUuidRef):
    model, noun = LeadSource, "opportunity lead source"


class PracticeRef(SiteUuidRef):
    model, noun = Practice, "practice"


class RuddrProjectInputSerializer(StrictInputMixin, serializers.Serializer):
    id = StrictUuidField()
    amount = NumberField(max_digits=20, decimal_places=4, required=False, allow_null=True)


OPPORTUNITY_READ_ONLY = frozenset(RuddrOpportunitySerializer._declared_fields) - {
    "name",
    "description",
    "nextSteps",
    "amount",
    "isActive",
    "probability",
    "closeDate",
    "priorityId",
    "currency",
    "cloudFolderUrl",
    "salesforceId",
    "hubspotId",
}


class RuddrOpportunityInputSerializer(StrictInputMixin, serializers.Serializer):
    """POST (the document's rules: `name` and `companyId` required) and PATCH (partial). Values
    come out model-named for `opportunity_create` / `opportunity_update`. `context["site"]`."""

    read_only_names = OPPORTUNITY_READ_ONLY

    name = StrictCharField(max_length=255)
    companyId = CompanyRef(source="company")
    opportunityStageId = StageRef(source="stage", required=False)
    description = StrictCharField(max_length=5000, required=False, allow_null=True, allow_blank=True)
    nextSteps = StrictCharField(source="next_steps", max_length=255, required=False, allow_null=True, allow_blank=True)
    amount = NumberField(max_digits=20, decimal_places=4, required=False, allow_null=True)
    isActive = StrictBooleanField(source="is_active", required=False)
    probability = NumberField(
        max_digits=5, decimal_places=4, min_value=Decimal(0), max_value=Decimal(1), required=False, allow_null=True
    )
    closeDate = YmdDateField(source="close_date", required=False, allow_null=True)
    priorityId = serializers.ChoiceField(source="priority", choices=Priority.choices, required=False, allow_null=True)
    currency = CurrencyField(required=False)
    ownerId = OwnerRef(source="owner", required=False, allow_null=True)
    opportunityLeadSourceId = LeadSourceRef(source="lead_source", required=False, allow_null=True)
    opportunityTypeId = OpportunityTypeRef(source="opportunity_type", required=False, allow_null=True)
    tagIds = serializers.ListField(child=StrictUuidField(), source="tags", required=False, max_length=MAX_TAGS)
    practiceId = PracticeRef(source="practice", required=False, allow_null=True)
    projects = serializers.ListField(
        child=RuddrProjectInputSerializer(), required=False, max_length=MAX_PROJECTS, help_text="Ids must be unique."
    )
    cloudFolderUrl = StrictCharField(
        source="cloud_folder_url", max_length=1024, required=False, allow_null=True, allow_blank=True
    )
    salesforceId = StrictCharField(source="salesforce_id", max_length=255, required=False, allow_null=True)
    hubspotId = StrictCharField(source="hubspot_id", max_length=255, required=False, allow_null=True)

    def validate_tagIds(self, value):
        wanted = list(dict.fromkeys(value))
        tags = list(Tag.objects.for_site(self.context["site"]).filter(uuid__in=wanted))
        missing = [str(u) for u in wanted if u not in {t.uuid for t in tags}]
        if missing:
            raise serializers.ValidationError(f"No tag with id {', '.join(missing)} in this site.")
        return tags

    def validate_projects(self, value):
        ids = [item["id"] for item in value]
        repeated = sorted({str(u) for u in ids if ids.count(u) > 1})
        if repeated:
            raise serializers.ValidationError(f"Project ids must be unique: {', '.join(repeated)} repeated.")
        found = {p.uuid: p for p in Project.objects.for_site(self.context["site"]).filter(uuid__in=ids)}
        missing = [str(u) for u in ids if u not in found]
        if missing:
            raise serializers.ValidationError(f"No project with id {', '.join(missing)} in this site.")
        return [(found[item["id"]], item.get("amount")) for item in value]


# --- the resources an opportunity refers to ------------------------------------------------------


class RuddrStageSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    name = serializers.CharField(read_only=True)
    probability = WireNumberField(allow_null=True, help_text="0 to 1; null until someone sets it.")
    statusId = serializers.ChoiceField(source="status", choices=StageStatus.choices, read_only=True)
    isActive = serializers.BooleanField(source="is_active", read_only=True)


class RuddrReferenceSerializer(serializers.Serializer):
    """An opportunity type, lead source or practice."""

    id = serializers.UUIDField(source="uuid", read_only=True)
    name = serializers.CharField(read_only=True)
    isActive = serializers.BooleanField(source="is_active", read_only=True)


class RuddrTagSerializer(RuddrNamedRefSerializer):
    pass


class RuddrMemberSerializer(serializers.Serializer):
    """A member who can own opportunities (the domain's owners)."""

    id = serializers.UUIDField(source="uuid", read_only=True)
    name = serializers.CharField(read_only=True)
    email = serializers.CharField(read_only=True, allow_null=True)


class RuddrProjectSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    name = serializers.CharField(read_only=True)
    isActive = serializers.BooleanField(source="is_active", read_only=True)
    client = RuddrClientSerializer(read_only=True, allow_null=True)
