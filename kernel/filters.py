"""django-filter building blocks held to the shared input bounds (kernel.limits)."""

from __future__ import annotations

import django_filters
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
