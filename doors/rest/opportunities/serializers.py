"""HTTP shapes of the opportunity REST API, the deal upsert and the site's small lists.

Input serializers check shape and types (and that referenced records belong to the site);
services in `entities.opportunities.services` do the writing. Wire names are camelCase; `source=` maps them
to model field names, so services receive model-named data.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from doors.rest.opportunities import examples
from doors.rest.opportunities.fields import (
    CurrencyField,
    FastCharField,
    IsoDateField,
    LenientNumberField,
    NumberField,
    StrictBooleanField,
    StrictCharField,
    StrictInputMixin,
    YmdDateField,
    utc_datetime_field,
)
from entities.contacts.domains import normalise_domain
from entities.contacts.models import Account
from entities.opportunities.models import Opportunity, Owner, Pipeline, Priority, Stage, StageStatus, Tag
from kernel.exceptions import Failure, _flatten
from kernel.limits import OversizedNumber, json_failure, text_problem

MAX_DEALS = 100


# --- site-scoped references ------------------------------------------------------------------


class _SiteRef(serializers.Field):
    """An id of a record of the request's site (`context["site"]`); another site's is 'not found'."""

    model = None
    lookup = "pk"
    noun = "record"
    default_error_messages = {"invalid": "Must be {kind}.", "missing": "No {noun} with this id in this site."}
    kind = "an integer id"

    def parse(self, data):
        if isinstance(data, bool) or not isinstance(data, int) or data < 1:
            self.fail("invalid", kind=self.kind)
        return data

    def to_internal_value(self, data):
        value = self.parse(data)
        found = self.model.objects.for_site(self.context["site"]).filter(**{self.lookup: value}).first()
        if found is None:
            self.fail("missing", noun=self.noun)
        return found

    def to_representation(self, value):
        return getattr(value, self.lookup)


@extend_schema_field(OpenApiTypes.UUID)
class SiteUuidRef(_SiteRef):
    """A record of the request's site named by its uuid (a JSON string)."""

    lookup, kind = "uuid", "a uuid"

    def parse(self, data):
        return parse_uuid(data) or self.fail("invalid", kind=self.kind)


def parse_uuid(data) -> uuid.UUID | None:
    """A uuid given as a JSON string, else None."""
    if not isinstance(data, str):
        return None
    try:
        return uuid.UUID(data)
    except ValueError:
        return None


class CompanyRef(SiteUuidRef):
    model, noun, kind = Account, "company (account)", "a company uuid"


@extend_schema_field(OpenApiTypes.INT)
class StageRef(_SiteRef):
    model, noun = Stage, "opportunity stage"


@extend_schema_field(OpenApiTypes.INT)
class OwnerRef(_SiteRef):
    model, noun = Owner, "owner"


@extend_schema_field(OpenApiTypes.INT)
class PipelineRef(_SiteRef):
    model, noun = Pipeline, "pipeline"


# --- the site's small lists: tags, owners, pipelines -----------------------------------------


class _UniquePerSite:
    """`validate_<field>` helper: the value is not used by another record of the site."""

    def _unique(self, model, value, message: str, **lookup):
        if value is None:
            return value
        clash = model.objects.for_site(self.context["site"]).filter(**lookup)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise serializers.ValidationError(message)
        return value


@extend_schema_serializer(examples=examples.TAG_EXAMPLES)
class TagSerializer(StrictInputMixin, _UniquePerSite, serializers.ModelSerializer):
    read_only_names = frozenset({"id"})
    name = StrictCharField(max_length=100)

    class Meta:
        model = Tag
        fields = ["id", "name"]

    def validate_name(self, value):
        return self._unique(Tag, value.strip(), "A tag with this name already exists.", name__iexact=value.strip())


@extend_schema_serializer(examples=examples.OWNER_EXAMPLES)
class OwnerSerializer(StrictInputMixin, _UniquePerSite, serializers.ModelSerializer):
    read_only_names = frozenset({"id"})
    externalId = StrictCharField(source="external_id", max_length=255, required=False, allow_null=True)
    name = StrictCharField(max_length=255, required=False, allow_blank=True)
    email = serializers.EmailField(max_length=254, required=False, allow_null=True)

    class Meta:
        model = Owner
        fields = ["id", "externalId", "name", "email"]

    def validate_externalId(self, value):
        return self._unique(Owner, value, "An owner with this externalId already exists.", external_id=value)


@extend_schema_serializer(examples=examples.PIPELINE_EXAMPLES)
class PipelineSerializer(StrictInputMixin, _UniquePerSite, serializers.ModelSerializer):
    read_only_names = frozenset({"id"})
    externalId = StrictCharField(source="external_id", max_length=255)
    label = StrictCharField(max_length=255)

    class Meta:
        model = Pipeline
        fields = ["id", "externalId", "label"]

    def validate_externalId(self, value):
        return self._unique(Pipeline, value, "A pipeline with this externalId already exists.", external_id=value)


@extend_schema_field(OpenApiTypes.BOOL)
class IsDefaultField(serializers.Field):
    """`isDefault`: whether the stage is the site's default stage (`context["site"]`); writing true
    makes it the default. Read from the site row the request already loaded: no query per stage."""

    default_error_messages = {"invalid": "Must be true or false."}

    def __init__(self, **kwargs):
        kwargs["source"] = "*"
        super().__init__(**kwargs)

    def to_representation(self, stage) -> bool:
        return stage.pk == self.context["site"].default_stage_id

    def to_internal_value(self, data) -> dict:
        if not isinstance(data, bool):
            self.fail("invalid")
        return {"is_default": data}


@extend_schema_serializer(examples=examples.STAGE_EXAMPLES)
class StageSerializer(StrictInputMixin, _UniquePerSite, serializers.Serializer):
    """A stage of the site (input and output). `context["site"]` is required."""

    read_only_names = frozenset({"id", "pipeline"})
    id = serializers.IntegerField(read_only=True)
    name = StrictCharField(max_length=100)
    probability = NumberField(
        max_digits=5,
        decimal_places=4,
        min_value=Decimal(0),
        max_value=Decimal(1),
        required=False,
        allow_null=True,
        help_text="0 to 1; null until someone sets it (a stage an import created by name has none).",
    )
    statusId = serializers.ChoiceField(source="status", choices=StageStatus.choices, required=False)
    sortOrder = serializers.IntegerField(source="sort_order", min_value=0, max_value=2**31 - 1, required=False)
    externalId = StrictCharField(source="external_id", max_length=255, required=False, allow_null=True)
    pipeline = PipelineSerializer(read_only=True, allow_null=True)
    pipelineId = PipelineRef(source="pipeline", required=False, allow_null=True, write_only=True)
    isDefault = IsDefaultField(required=False)

    def validate_name(self, value):
        value = value.strip()
        if not value:
            raise serializers.ValidationError("Must not be blank.")
        return self._unique(Stage, value, "A stage with this name already exists.", name__iexact=value)

    def validate_externalId(self, value):
        return self._unique(Stage, value, "A stage with this externalId already exists.", external_id=value)


# --- opportunity REST --------------------------------------------------------------------------


class CompanySummarySerializer(serializers.Serializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    name = serializers.CharField(read_only=True)
    domain = serializers.CharField(read_only=True, allow_null=True)
    externalId = serializers.CharField(source="external_id", read_only=True, allow_null=True)


class StageSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    probability = serializers.DecimalField(
        max_digits=5, decimal_places=4, coerce_to_string=False, read_only=True, allow_null=True
    )
    statusId = serializers.ChoiceField(source="status", choices=StageStatus.choices, read_only=True)
    externalId = serializers.CharField(source="external_id", read_only=True, allow_null=True)
    pipeline = PipelineSerializer(read_only=True, allow_null=True)


def effective_probability(opp: Opportunity) -> Decimal | None:
    """The opportunity's own probability, else its stage's."""
    if opp.probability is not None:
        return opp.probability
    return opp.stage.probability if opp.stage_id else None


@extend_schema_serializer(examples=examples.OPPORTUNITY_EXAMPLES)
class OpportunitySerializer(serializers.Serializer):
    """An opportunity as every door's records read back (`id` is the uuid)."""

    id = serializers.UUIDField(source="uuid", read_only=True)
    externalId = serializers.CharField(source="external_id", read_only=True)
    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True, allow_null=True)
    nextSteps = serializers.CharField(source="next_steps", read_only=True, allow_null=True)
    amount = serializers.DecimalField(
        max_digits=20, decimal_places=4, coerce_to_string=False, read_only=True, allow_null=True
    )
    currency = serializers.CharField(read_only=True, allow_null=True)
    probability = serializers.SerializerMethodField()
    weightedAmount = serializers.SerializerMethodField()
    openDate = serializers.DateField(source="open_date", read_only=True, allow_null=True)
    closeDate = serializers.DateField(source="close_date", read_only=True, allow_null=True)
    priorityId = serializers.ChoiceField(source="priority", choices=Priority.choices, read_only=True, allow_null=True)
    isActive = serializers.BooleanField(source="is_active", read_only=True)
    createdAt = utc_datetime_field(source="created_at")
    modifiedAt = utc_datetime_field(source="updated_at")
    company = CompanySummarySerializer(read_only=True, allow_null=True)
    owner = OwnerSerializer(read_only=True, allow_null=True)
    opportunityStage = StageSummarySerializer(source="stage", read_only=True)
    tags = TagSerializer(many=True, read_only=True)
    # What the other doors carry; read-only here.
    accountName = serializers.CharField(source="account_name", read_only=True, allow_null=True)
    ownerName = serializers.CharField(source="owner_name", read_only=True, allow_null=True)
    territory = serializers.CharField(read_only=True, allow_null=True)
    forecastToCloseDate = serializers.DateField(source="forecast_to_close_date", read_only=True, allow_null=True)
    primaryCampaignId = serializers.CharField(source="primary_campaign_id", read_only=True, allow_null=True)
    occurredAt = utc_datetime_field(source="occurred_at", allow_null=True)
    labels = serializers.ListField(child=serializers.CharField(), read_only=True)
    properties = serializers.JSONField(read_only=True)
    customFields = serializers.JSONField(source="custom_fields", read_only=True)
    # Ruddr's door's fields that are plain values (its references are shown by /api/workspace).
    cloudFolderUrl = serializers.CharField(source="cloud_folder_url", read_only=True, allow_null=True)
    salesforceId = serializers.CharField(source="salesforce_id", read_only=True, allow_null=True)
    hubspotId = serializers.CharField(source="hubspot_id", read_only=True, allow_null=True)

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_probability(self, opp: Opportunity) -> float | None:
        """The opportunity's own probability, or its stage's when it has none."""
        value = effective_probability(opp)
        return None if value is None else float(value)

    @extend_schema_field(
        serializers.FloatField(allow_null=True, help_text="amount x probability; null when there is no amount.")
    )
    def get_weightedAmount(self, opp: Opportunity) -> float | None:  # noqa: N802 - wire name
        """amount x probability (the stage's probability when the opportunity has none)."""
        p = effective_probability(opp)
        if opp.amount is None or p is None:
            return None
        return float((opp.amount * p).quantize(Decimal("0.0001")))


OPPORTUNITY_READ_ONLY = frozenset(OpportunitySerializer._declared_fields) - {
    "externalId",
    "name",
    "description",
    "nextSteps",
    "amount",
    "currency",
    "probability",
    "closeDate",
    "priorityId",
    "isActive",
    "cloudFolderUrl",
    "salesforceId",
    "hubspotId",
}


@extend_schema_serializer(examples=examples.OPPORTUNITY_INPUT_EXAMPLES)
class OpportunityInputSerializer(StrictInputMixin, serializers.Serializer):
    """POST (all rules) and PATCH (partial) of one opportunity. `context["site"]` is required."""

    read_only_names = OPPORTUNITY_READ_ONLY

    externalId = StrictCharField(source="external_id", max_length=255, required=False)
    name = StrictCharField(max_length=255)
    companyId = CompanyRef(source="company")
    description = StrictCharField(max_length=5000, required=False, allow_null=True, allow_blank=True)
    nextSteps = StrictCharField(source="next_steps", max_length=255, required=False, allow_null=True, allow_blank=True)
    amount = NumberField(max_digits=20, decimal_places=4, required=False, allow_null=True)
    probability = NumberField(
        max_digits=5, decimal_places=4, min_value=Decimal(0), max_value=Decimal(1), required=False, allow_null=True
    )
    closeDate = YmdDateField(source="close_date", required=False, allow_null=True)
    priorityId = serializers.ChoiceField(source="priority", choices=Priority.choices, required=False, allow_null=True)
    currency = CurrencyField(required=False)
    opportunityStageId = StageRef(source="stage", required=False)
    isActive = StrictBooleanField(source="is_active", required=False)
    tagIds = serializers.ListField(child=serializers.IntegerField(min_value=1), source="tags", required=False)
    ownerId = OwnerRef(source="owner", required=False, allow_null=True)
    cloudFolderUrl = StrictCharField(
        source="cloud_folder_url", max_length=1024, required=False, allow_null=True, allow_blank=True
    )
    salesforceId = StrictCharField(source="salesforce_id", max_length=255, required=False, allow_null=True)
    hubspotId = StrictCharField(source="hubspot_id", max_length=255, required=False, allow_null=True)

    def validate_externalId(self, value):
        clash = Opportunity.objects.for_site(self.context["site"]).filter(external_id=value)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            raise serializers.ValidationError("An opportunity with this externalId already exists in this site.")
        return value

    def validate_tagIds(self, value):
        wanted = list(dict.fromkeys(value))
        tags = list(Tag.objects.for_site(self.context["site"]).filter(pk__in=wanted))
        missing = sorted(set(wanted) - {t.pk for t in tags})
        if missing:
            raise serializers.ValidationError(f"No tag with id {', '.join(map(str, missing))} in this site.")
        return tags


# --- deal upsert -------------------------------------------------------------------------------


class AssociatedAccountSerializer(StrictInputMixin, serializers.Serializer):
    externalId = FastCharField(source="external_id", max_length=255, required=False, allow_null=True)
    domain = FastCharField(max_length=255, required=False, allow_null=True, allow_blank=True)
    name = FastCharField(max_length=255, required=False, allow_null=True, allow_blank=True)

    def validate_domain(self, value):
        return normalise_domain(value)


class DealSerializer(StrictInputMixin, serializers.Serializer):
    """One deal of `POST /api/v1/deals`. Absent properties leave an existing deal's value as it is."""

    externalDealId = FastCharField(source="external_id", max_length=255)
    name = FastCharField(max_length=255)
    amount = LenientNumberField(max_digits=20, decimal_places=4, required=False, allow_null=True)
    stageId = FastCharField(source="stage_external_id", max_length=255, required=False, allow_null=True)
    stageLabel = FastCharField(source="stage_label", max_length=100, required=False, allow_null=True)
    pipelineId = FastCharField(source="pipeline_external_id", max_length=255, required=False, allow_null=True)
    pipelineLabel = FastCharField(source="pipeline_label", max_length=255, required=False, allow_null=True)
    startDate = IsoDateField(source="open_date", required=False, allow_null=True)
    closedDate = IsoDateField(source="close_date", required=False, allow_null=True)
    ownerName = FastCharField(source="owner_name", max_length=255, required=False, allow_null=True)
    ownerEmail = serializers.EmailField(
        source="owner_email", max_length=254, required=False, allow_null=True, allow_blank=True
    )
    ownerId = FastCharField(source="owner_external_id", max_length=255, required=False, allow_null=True)
    dealCurrencyCode = CurrencyField(source="currency", required=False, allow_null=True)
    associatedAccounts = serializers.ListField(
        child=AssociatedAccountSerializer(), source="accounts", required=False, allow_null=True, max_length=50
    )

    def validate(self, attrs):
        # Empty strings mean "not given" for references (CRMs send "" for unset ids).
        for key in ("stage_external_id", "stage_label", "pipeline_external_id", "pipeline_label", "owner_external_id"):
            if key in attrs and (attrs[key] is None or not attrs[key].strip()):
                attrs[key] = None
        if attrs.get("owner_email") == "":
            attrs["owner_email"] = None
        return attrs


class AnyJsonField(serializers.Field):
    """Any parsed JSON value, as is (DRF's JSONField re-encodes each value to check it)."""

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return value


class DealsRequestSerializer(StrictInputMixin, serializers.Serializer):
    """The envelope; each deal is validated on its own afterwards (one bad deal fails alone)."""

    deals = serializers.ListField(child=AnyJsonField())

    def validate_deals(self, value):
        if not 1 <= len(value) <= MAX_DEALS:
            raise serializers.ValidationError(f"A request carries 1 to {MAX_DEALS} deals; this one has {len(value)}.")
        return value


@extend_schema_serializer(examples=examples.DEALS_REQUEST_EXAMPLES)
class DealsRequestSchema(serializers.Serializer):
    deals = DealSerializer(many=True, help_text=f"1 to {MAX_DEALS} deals.")

    class Meta:
        ref_name = "Deals"  # the component "DealsRequest"


class DealFailureSerializer(serializers.Serializer):
    field = serializers.CharField()
    constraint = serializers.CharField()


class DealResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the deal in the request (0-based).")
    externalDealId = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["upserted", "failed"])
    action = serializers.ChoiceField(
        choices=["created", "updated", "unchanged"], required=False, help_text="Only for upserted deals."
    )
    id = serializers.UUIDField(required=False, help_text="The opportunity's uuid (upserted deals).")
    error = serializers.CharField(required=False, help_text="Failed deals: the message, naming the field.")
    failures = DealFailureSerializer(many=True, required=False)


class DealsSummarySerializer(serializers.Serializer):
    total = serializers.IntegerField()
    upserted = serializers.IntegerField()
    failed = serializers.IntegerField()


@extend_schema_serializer(examples=examples.DEALS_RESPONSE_EXAMPLES)
class DealsResponseSerializer(serializers.Serializer):
    results = DealResultSerializer(many=True)
    summary = DealsSummarySerializer()


@dataclass
class DealItem:
    """One deal of a request after validation: `data` (model-named) or `failures`."""

    index: int
    external_id: str | None
    data: dict | None = None
    failures: list[Failure] | None = None


def _echo_id(raw: dict) -> str | None:
    """The failed deal's externalDealId as its result echoes it: text or an integer as text; null when it
    is anything else, or text that could not be stored (NUL, an unpaired surrogate; `index` names the deal)."""
    ext = raw.get("externalDealId")
    if isinstance(ext, bool) or not isinstance(ext, str | int) or isinstance(ext, OversizedNumber):
        return None
    ext = str(ext)
    return ext if text_problem(ext) is None else None


def deals_validate(deals: list, *, context: dict) -> list[DealItem]:
    """Validate every deal on its own, collecting errors per item instead of failing the request.

    One serializer validates them all: building DRF fields is the costly part (a deep copy per
    instance), so they are built once per request, not once per deal."""
    serializer = DealSerializer(context=context)
    items = []
    for index, raw in enumerate(deals):
        if not isinstance(raw, dict):
            items.append(DealItem(index, None, failures=[Failure(field="body", constraint="Expected a JSON object.")]))
            continue
        # The shared bounds the parser left to this deal (kernel.parsers.per_item_json_parser): NUL or an
        # unpaired surrogate in a value or property name, a number too long or not finite (`1e400`),
        # nesting deeper than JSON_MAX_DEPTH (the deal sits 2 deep in the body).
        bound = json_failure(raw, depth=2)
        if bound is not None:
            items.append(
                DealItem(index, _echo_id(raw), failures=[Failure(field=bound.field, constraint=bound.constraint)])
            )
            continue
        try:
            data = serializer.run_validation(raw)
        except serializers.ValidationError as exc:
            failures = [Failure(field=f["field"], constraint=f["constraint"]) for f in _flatten(exc.detail)]
            items.append(DealItem(index, _echo_id(raw), failures=failures))
        else:
            items.append(DealItem(index, data["external_id"], data=dict(data)))
    return items
