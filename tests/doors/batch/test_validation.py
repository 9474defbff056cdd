"""The pure validation functions, row by row, without HTTP or database."""

import csv
import io
import random
from datetime import UTC, datetime

import phonenumbers
import pytest

from doors.batch.validation import (
    ErrorSink,
    FileError,
    HeaderErrors,
    ScanResult,
    parse_amount,
    parse_datetime_utc,
    parse_header,
    parse_phone,
    parse_properties,
    scan,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("2025-01-02T03:04:05Z", "2025-01-02T03:04:05Z"),
        ("2025-01-02T03:04:05.123Z", "2025-01-02T03:04:05.123000Z"),
        ("2025-01-02T03:04:05+00:00", "2025-01-02T03:04:05Z"),
        ("2025-01-02T03:04:05.5+00:00", "2025-01-02T03:04:05.500000Z"),
        # Ruler's documented forms, all UTC: a date alone is its midnight
        ("2025-01-02", "2025-01-02T00:00:00Z"),
        ("2025-01-02T03:04:05", "2025-01-02T03:04:05Z"),
        ("2025-01-02T03:04:05.123456", "2025-01-02T03:04:05.123456Z"),
    ],
)
def test_accepted_datetime_forms(raw, expected):
    assert parse_datetime_utc(raw, NOW) == (expected, None)


@pytest.mark.parametrize(
    "raw",
    [
        "2025-01-02T03:04:05+01:00",
        "2025-02-30T00:00:00Z",
        "2025-02-30",
        "02/01/2025 03:04",
        "2025-01-02Z",
        "2025-01-02T03:04",
        "2025-01-02T03:04:05.1234567",
        "2025-01-02 03:04:05",
        "２０２５-01-02",
    ],
)
def test_rejected_datetime_forms(raw):
    value, why = parse_datetime_utc(raw, NOW)
    assert value is None and why


def test_future_datetime_is_rejected():
    assert parse_datetime_utc("2025-06-01T12:00:01Z", NOW) == (None, "Must not be in the future.")


@pytest.mark.parametrize("raw", ["0", "1200", "-5", "1200.50", ".5", "9999999999999999.9999", "1.12340"])
def test_valid_amounts(raw):
    assert parse_amount(raw) is None


@pytest.mark.parametrize("raw", ["", "abc", "1,200", "1e3", "1.23456", "10000000000000000", "12.3.4", "$5"])
def test_invalid_amounts(raw):
    assert parse_amount(raw)


def test_properties_parsing():
    assert parse_properties("Name=Source,Value=Google;Name=Campaign,Value=Spring") == (
        {"Source": "Google", "Campaign": "Spring"},
        None,
    )
    assert parse_properties("Name=Source,Value=Google;") == ({"Source": "Google"}, None)
    assert parse_properties(" Name=Note,Value=a,b,c ") == ({"Note": "a,b,c"}, None)
    assert parse_properties("Name=Empty,Value=") == ({"Empty": ""}, None)


@pytest.mark.parametrize(
    "raw",
    [
        "Source=Google",
        "Name=Source",
        "Name=,Value=x",
        "Name=A,Value=1;;Name=B,Value=2",
        "Name=A,Value=1;Name=A,Value=2",
    ],
)
def test_malformed_properties(raw):
    value, why = parse_properties(raw)
    assert value is None and why


def test_phones_are_normalised_to_e164():
    assert parse_phone("+44 7911 123456") == ("+447911123456", None)
    assert parse_phone("+4479")[0] is None


@pytest.mark.parametrize(
    "raw, region, expected",
    [
        ("01234567890", "GB", "+441234567890"),  # Ruler's template
        ("020 7946 0958", "GB", "+442079460958"),
        ("(020) 7946-0958", "GB", "+442079460958"),
        ("0044 20 7946 0958", "GB", "+442079460958"),
        ("020 7946 0958 ext. 12", "GB", "+442079460958"),
        ("+44 20 7946 0958 x 12", "GB", "+442079460958"),
        ("(415) 555-0100", "US", "+14155550100"),
        ("+1 (415) 555-0100", "GB", "+14155550100"),  # an international number ignores the region
        ("01234 567890", None, "01234 567890"),  # no region: kept as sent
        ("01234 567890", "", "01234 567890"),
    ],
)
def test_phones_as_people_write_them(raw, region, expected):
    assert parse_phone(raw, region) == (expected, None)


@pytest.mark.parametrize(
    "raw, region",
    [
        ("123", "GB"),  # too short for the region
        ("01234567890", "US"),
        ("call me", "GB"),
        ("call me", None),
        ("12", None),  # fewer than three digits
        ("0" * 41, None),
        ("=1+2", "GB"),
    ],
)
def test_phones_that_are_refused(raw, region):
    value, why = parse_phone(raw, region)
    assert value is None and why


def _parsed_by_the_library(raw: str) -> str | None:
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _phone_corpus() -> list[str]:
    """Every region's example numbers written the ways people write them, numbers whose national
    prefix the parser strips or rewrites (US 1, Madagascar, San Marino, Norfolk Island, Argentina's
    mobile 9, Italy's kept zero, UK's (0)), and random digits after every country code."""
    corpus = [
        "+1 1 415 555 0100", "+1 (415) 555-0100", "+14155550100", "+261 21 000 21", "+2612100021",
        "+378 885533", "+672 16561", "+54 9 11 1234 5678", "+54 11 15 1234 5678", "+39 06 1234 5678",
        "+44 (0) 20 7946 0958", "+7 800 555 35 35", "+7 8 800 555 35 35", "+86 122989022663",
        "+375 8 029 123 45 67", "+1 415 555 0100 ext. 12", "+44 20 7946 095", "+999 1234 5678",
        "+1٦٥٠٢٥٣٠٠٠٠", "+39 ٠٦ 1234 5678", "+7 ٨ 800 555 35 35", "+1６５０２５３００００",  # other scripts' digits
        "+44 20 7946 0958" + " " * 240, "+44" + "." * 250 + "2079460958",  # longer than the parser takes
    ]  # fmt: skip
    kinds = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in kinds:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                text = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
                corpus += [text, text.replace(" ", "-"), text.replace(" ", "."), text.replace(" ", "")]
    rnd = random.Random(15)
    for code in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        for _ in range(40):
            digits = "".join(rnd.choice("0123456789") for _ in range(rnd.randint(4, 13)))
            corpus.append(f"+{code}{rnd.choice(['', ' ', '-', '.'])}{digits}")
    return corpus


def test_phones_read_as_the_phonenumbers_parser_reads_them():
    """The parser-free path for plain international numbers gives exactly what the parser gives."""
    for raw in _phone_corpus():
        e164, why = parse_phone(raw)
        assert e164 == _parsed_by_the_library(raw), raw
        assert (why is None) == (e164 is not None), raw


def test_header_rules():
    header = parse_header(
        ["OpportunityDateTime", "CurrencyCode", "OpportunityValue", "PipelineStage", "Label", "label", "RaId"]
    )
    assert header.labels == [4, 5]
    with pytest.raises(HeaderErrors) as exc:
        parse_header(["OpportunityDateTime", "CurrencyCode", "Colour", "PipelineStage"])
    constraints = {(f.value, f.constraint.split(".")[0]) for f in exc.value.failures}
    assert ("Colour", "Unknown column") in constraints
    assert ("OpportunityValue", "Required column is missing") in constraints
    assert any("identifier" in f.constraint for f in exc.value.failures)
    with pytest.raises(FileError):
        parse_header(["2025-01-01T00:00:00Z", "GBP", "10", "Proposal"])  # data, not a header


def _scan(text: str):
    sink, result = ErrorSink(), ScanResult()
    rows = list(scan(csv.reader(io.StringIO(text)), now=NOW, sink=sink, job_id="J", result=result))
    return rows, sink, result


def test_scan_numbers_rows_and_skips_blank_lines():
    text = (
        "OpportunityDateTime,CurrencyCode,OpportunityValue,PipelineStage,EmailAddress,Label,Label\n"
        "2025-01-01T00:00:00Z,gbp,10,Proposal,a@example.com,hot,\n"
        "\n"
        "2025-01-01T00:00:00Z,GBP,10,Proposal,bad-email,x,y\n"
    )
    rows, sink, result = _scan(text)
    assert result.rows == 2
    assert [r["_row"] for r in rows] == [1]
    assert rows[0]["CurrencyCode"] == "GBP" and rows[0]["Label"] == ["hot"]
    assert rows[0]["Reference"] == "batch-J-1" and rows[0]["_generated"] is True
    assert [(f.row, f.field) for f in sink.failures] == [(2, "EmailAddress")]
