"""django-filter building blocks held to the shared input bounds (kernel.limits)."""

from __future__ import annotations

import re
from datetime import UTC

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField as DjangoFilterIsoDateTimeField

from kernel.limits import parse_iso_datetime


class IsoDateTimeField(DjangoFilterIsoDateTimeField):
    """ISO 8601 date-times PostgreSQL takes: offsets up to +/-15:59, instants in years 1..9999 (UTC).
    Django's own parsing hands `+20:00` on to PostgreSQL, which refuses it (a 500)."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        parsed = parse_iso_datetime(str(value))
        if parsed is None:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return parsed


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = IsoDateTimeField


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
