"""Serializer building blocks for the strict REST doors: exact JSON types, site-scoped references,
and the rule that unknown or read-only properties are rejected rather than dropped."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime

from django.utils.dateparse import parse_date
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from kernel.limits import parse_iso_date, parse_iso_datetime
from kernel.models import Currency

_YMD = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class StrictInputMixin:
    """Reject properties the serializer does not accept instead of silently ignoring them.

    `read_only_names` are the properties the resource shows but a client may not write.
    """

    read_only_names: frozenset[str] = frozenset()

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"body": ["Expected a JSON object."]})
        writable = self.__dict__.get("_writable_names")
        if writable is None:  # fields are fixed once built; a reused serializer checks many items
            writable = self.__dict__["_writable_names"] = {n for n, f in self.fields.items() if not f.read_only}
        errors = {}
        for key in data:
            if key in writable:
                continue
            errors[key] = ["Read-only property." if key in self.read_only_names else "Unknown property."]
        if errors:
            raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


@extend_schema_field(OpenApiTypes.NUMBER)
class NumberField(serializers.DecimalField):
    """A decimal that must arrive as a JSON number (strings and booleans are rejected)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("coerce_to_string", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(OpenApiTypes.NUMBER)
class LenientNumberField(serializers.DecimalField):
    """A decimal given as a JSON number or a numeric string (CRM payloads send both)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("coerce_to_string", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """Only JSON `true`/`false`."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


_FORBIDDEN_CHARS = re.compile("[\x00\ud800-\udfff]")


class FastCharField(serializers.CharField):
    """CharField whose built-in checks (length, NUL and surrogate characters) run inline.

    DRF runs them as validator objects, the surrogate one in a Python loop over every character;
    for a 100-deal request that was a third of the validation time. The validators stay attached
    so the OpenAPI schema still shows `maxLength`."""

    def run_validators(self, value):
        if self.max_length is not None and len(value) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        if self.min_length is not None and len(value) < self.min_length:
            self.fail("min_length", min_length=self.min_length)
        bad = _FORBIDDEN_CHARS.search(value)
        if bad:
            if bad.group() == "\x00":
                raise serializers.ValidationError("Null characters are not allowed.")
            raise serializers.ValidationError(f"Surrogate characters are not allowed: U+{ord(bad.group()):X}.")


class StrictCharField(FastCharField):
    """Only JSON strings (DRF would turn numbers into strings)."""

    default_error_messages = {"not_string": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_string")
        return super().to_internal_value(data)


@extend_schema_field(OpenApiTypes.DATE)
class YmdDateField(serializers.DateField):
    """Exactly `YYYY-MM-DD`."""

    default_error_messages = {"ymd": "Must be a date in the format YYYY-MM-DD."}

    def to_internal_value(self, data):
        if not isinstance(data, str) or not _YMD.match(data):
            self.fail("ymd")
        try:
            parsed = parse_date(data)
        except ValueError:
            parsed = None
        if parsed is None:
            self.fail("ymd")
        return parsed


@extend_schema_field(OpenApiTypes.STR)
class IsoDateField(serializers.Field):
    """An ISO 8601 date or date-time; a date-time is taken as its UTC calendar day."""

    default_error_messages = {"iso": "Must be an ISO 8601 date (YYYY-MM-DD) or date-time."}

    def to_internal_value(self, data) -> date:
        if not isinstance(data, str):
            self.fail("iso")
        text = data.strip()
        # Shared bounds (kernel.limits): offsets up to +/-15:59, instants in years 1..9999 in UTC.
        parsed = parse_iso_date(text) if _YMD.match(text) else parse_iso_datetime(text.replace("z", "Z"))
        if parsed is None:
            self.fail("iso")
        if isinstance(parsed, datetime):
            return parsed.astimezone(UTC).date()
        return parsed

    def to_representation(self, value):
        return value.isoformat() if value else None


class CurrencyField(StrictCharField):
    """A 3-letter ISO 4217 code known to `bulkapi_currency`, any case in, upper case out.

    The code list is read once per serializer tree (the root's `context["currencies"]` when given,
    so a 100-deal request reads it once)."""

    default_error_messages = {"currency": "Must be a 3-letter ISO 4217 currency code."}

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 3)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data).strip().upper()
        codes = self.context.get("currencies")
        known = Currency.objects.filter(code=value).exists() if codes is None else value in codes
        if len(value) != 3 or not known:
            self.fail("currency")
        return value


_CURRENCY_CACHE: dict[str, tuple[float, frozenset[str]]] = {}
CURRENCY_CACHE_SECONDS = 300


def currency_codes() -> frozenset[str]:
    """The ISO 4217 codes (a static table loaded by migration), cached per process for 5 minutes."""
    now = time.monotonic()
    cached = _CURRENCY_CACHE.get("codes")
    if cached and now - cached[0] < CURRENCY_CACHE_SECONDS:
        return cached[1]
    codes = frozenset(Currency.objects.values_list("code", flat=True))
    if codes:
        _CURRENCY_CACHE["codes"] = (now, codes)
    return codes


def utc_datetime_field(**kwargs) -> serializers.DateTimeField:
    return serializers.DateTimeField(default_timezone=UTC, read_only=True, **kwargs)
