"""List filters of the `/api/v1` REST lists (wire names). Every value is checked: a value a filter
cannot use (`isActive=maybe`, `ownerId=1.5`, a NUL character, an impossible date) is a 400 naming
the parameter, never ignored and never passed to the database."""

from __future__ import annotations

import re
from datetime import UTC

import django_filters
from django import forms

from entities.opportunities.models import Opportunity, Priority, StageStatus
from kernel.filters import IsoDateTimeFilter

MAX_ID = 2**63 - 1  # bigint
MAX_TEXT = 1000
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class StrictBooleanField(forms.Field):
    """`true`/`false` (also `1`/`0`, any case); anything else is invalid, not 'unknown'."""

    def to_python(self, value):
        if value in (None, ""):
            return None
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise forms.ValidationError("Must be true or false.", code="invalid")


class StrictTextField(forms.CharField):
    """Text PostgreSQL can hold (no NUL, no lone surrogates), at most MAX_TEXT characters."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", MAX_TEXT)
        kwargs.setdefault("strip", False)
        super().__init__(**kwargs)

    def validate(self, value):
        super().validate(value)
        if value and _UNSTORABLE.search(value):
            raise forms.ValidationError("Contains a character text cannot hold (NUL or a lone surrogate).")


class UtcDateTimeField(forms.DateTimeField):
    """ISO 8601 date-time, taken in UTC (an offset PostgreSQL would refuse is converted, not sent)."""

    input_formats = ["iso-8601"]

    def to_python(self, value):
        from django.utils.dateparse import parse_datetime

        if value in (None, ""):
            return None
        try:
            parsed = parse_datetime(str(value).strip())
        except ValueError:
            parsed = None
        if parsed is None:
            raise forms.ValidationError("Must be an ISO 8601 date-time such as 2026-01-31T10:00:00Z.", code="invalid")
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class BooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class TextFilter(django_filters.CharFilter):
    field_class = StrictTextField


class IdFilter(django_filters.NumberFilter):
    """A positive integer id (no decimals, within bigint)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class DateTimeFilter(django_filters.Filter):
    field_class = UtcDateTimeField


class OpportunityFilterSet(django_filters.FilterSet):
    externalId = TextFilter(field_name="external_id", help_text="Exact external id.")
    opportunityStageId = IdFilter(field_name="stage_id", help_text="Stage id.")
    statusId = django_filters.ChoiceFilter(
        field_name="stage__status", choices=StageStatus.choices, help_text="The stage's status."
    )
    companyId = django_filters.UUIDFilter(field_name="company__uuid", help_text="Company (account) uuid.")
    ownerId = IdFilter(field_name="owner_id", help_text="Owner id.")
    currency = TextFilter(field_name="currency", lookup_expr="iexact", help_text="ISO 4217 code.")
    priorityId = django_filters.ChoiceFilter(field_name="priority", choices=Priority.choices)
    isActive = BooleanFilter(field_name="is_active", help_text="true or false.")
    tagId = IdFilter(field_name="tags", help_text="Has this tag.", distinct=True)
    closeDateFrom = django_filters.DateFilter(
        field_name="close_date", lookup_expr="gte", help_text="closeDate on or after (YYYY-MM-DD)."
    )
    closeDateTo = django_filters.DateFilter(
        field_name="close_date", lookup_expr="lte", help_text="closeDate on or before (YYYY-MM-DD)."
    )
    modifiedSince = IsoDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", help_text="modifiedAt at or after (ISO 8601)."
    )
    search = TextFilter(field_name="name", lookup_expr="icontains", help_text="Text in the name.")

    class Meta:
        model = Opportunity
        fields: list[str] = []
