"""The SQL parse functions syncs judge values with: lenient, and NULL instead of an error."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def sql(expr, value):
    with connection.cursor() as cur:
        cur.execute(f"SELECT {expr}(%s::text)::text", [value])
        return cur.fetchone()[0]


@pytest.mark.parametrize(
    "value,expected",
    [("12", "12"), ("-3.50", "-3.50"), ("+7", "7"), (".5", "0.5"), ("1e3", "1000"), ("9999999999999999", "9999999999999999"),
     ("10000000000000000", None), ("1e20", None), ("abc", None), ("1,000", None), ("", None), (None, None)],
)  # fmt: skip
def test_bulk_to_numeric(value, expected):
    assert sql("bulk_to_numeric", value) == expected


@pytest.mark.parametrize(
    "value,expected",
    [("2024-02-28", "2024-02-28"), ("2024-02-29", "2024-02-29"), ("2023-02-29", None), ("2024-04-31", None),
     ("2024-1-5", "2024-01-05"), ("10/31/2024", "2024-10-31"), ("2017-10-05 1:15", "2017-10-05"),
     ("2024-13-01", None), ("0000-01-01", None), ("soon", None), (None, None)],
)  # fmt: skip
def test_bulk_to_date(value, expected):
    assert sql("bulk_to_date", value) == expected


@pytest.mark.parametrize(
    "value,expected",
    [("2024-01-02T03:04:05Z", "2024-01-02 03:04:05+00"), ("2024-01-02T03:04:05+02:00", "2024-01-02 01:04:05+00"),
     ("2024-01-02 03:04", "2024-01-02 03:04:00+00"), ("2024-01-02T24:00:00Z", None), ("1/2/2024 3:04", "2024-01-02 03:04:00+00")],
)  # fmt: skip
def test_bulk_to_timestamptz(value, expected):
    with connection.cursor() as cur:
        cur.execute("SET LOCAL TimeZone = 'UTC'")
    assert sql("bulk_to_timestamptz", value) == expected


@pytest.mark.parametrize(
    "value,expected",
    [("2024-01-02T03:04:05+15:59", "2024-01-01 11:05:05+00"), ("2024-01-02T03:04:05-1559", "2024-01-02 19:03:05+00"),
     ("2024-01-02T03:04:05+16:00", None), ("2024-01-02T03:04:05+25:00", None), ("2024-01-02T03:04:05-2500", None),
     ("2024-01-02T03:04:05+01:60", None), ("2024-01-02 +25:00", None), ("2024-01-02 03:04 +99:99", None)],
)  # fmt: skip
def test_zone_offsets_beyond_15_59_are_malformed(value, expected):
    with connection.cursor() as cur:
        cur.execute("SET LOCAL TimeZone = 'UTC'")
    assert sql("bulk_to_timestamptz", value) == expected


def _date_values() -> list[str]:
    """Every day of a leap year and of the year before (plus impossible days), in every accepted
    form, with the edges of times, fractions and zones: what real exports send, and the near misses."""
    values = []
    for year in (2023, 2024):
        for month in range(1, 13):
            for day in range(1, 33):
                values += [f"{year}-{month:02d}-{day:02d}", f"{year}-{month}-{day}", f"{month}/{day}/{year}"]
                values += [f"{month:02d}/{day:02d}/{year} 7:05", f"{year}-{month:02d}-{day:02d} 1:15"]
    times = ["0:00", "00:00", "23:59", "24:00", "9:60", "12:34:56", "12:34:60", "23:59:59.5", "23:59:59.999999",
             "23:59:59.9999995", "12:34:56.123456789", "1:2", "123:00"]  # fmt: skip
    zones = ["", "Z", "z", "+00:00", "-05:00", "+0530", "+15:59", "-15:59", "+16:00", "+25:00", "+01:60", "+1", " +02:00",
             "  -0100", "UTC", "+02:00:00"]  # fmt: skip
    for base in ("2024-02-29", "2023-02-29", "2024-12-31", "0999-12-31", "0001-01-01", "0000-01-01", "2024-1-9"):
        for sep in (" ", "T", "t", "  "):
            for time in times:
                for zone in zones:
                    values.append(f"{base}{sep}{time}{zone}")
        values += [base + zone for zone in zones]
    for mdy in ("2/29/2024", "2/29/2023", "12/31/2024", "13/1/2024", "1/32/2024", "01/02/0999"):
        values += [f"{mdy} {time}" for time in times] + [f"{mdy}T12:00", f"{mdy} 12:00Z", mdy]
    values += ["", " ", "2024", "2024-01", "20240102", "2024/01/02", "02-01-2024", "2024-01-02x", " 2024-01-02",
               "2024-01-02 ", "tomorrow", "epoch", "infinity", "2024-01-02 03:04:05 PM", "１/２/２０２４", "2024-01-02\n"]  # fmt: skip
    return values


@pytest.mark.parametrize("timezone,datestyle", [("UTC", "ISO, MDY"), ("America/New_York", "ISO, DMY")])
def test_fast_paths_agree_with_the_slow_parser_on_every_form(timezone, datestyle):
    """The native casts behind the cheap check give what the slow parser gives, value for value,
    whatever the session's TimeZone and DateStyle."""
    values = _date_values()
    with connection.cursor() as cur:
        cur.execute(f"SET LOCAL TimeZone = '{timezone}'")
        cur.execute(f"SET LOCAL DateStyle = '{datestyle}'")
        cur.execute(
            "SELECT v, bulk_to_timestamptz(v)::text, bulk_to_timestamptz_slow(v)::text, bulk_to_date(v)::text,"
            " (bulk_to_timestamptz_slow(v) AT TIME ZONE 'UTC')::date::text FROM unnest(%s::text[]) v",
            [values],
        )
        rows = cur.fetchall()
    assert len(rows) == len(values) > 5000
    assert [r for r in rows if r[1] != r[2] or r[3] != r[4]] == []
    # The check is not vacuous: many of these parse, and many do not.
    parsed = sum(1 for r in rows if r[1] is not None)
    assert 0.3 * len(rows) < parsed < 0.9 * len(rows), parsed


def test_numeric_fast_path_agrees_with_the_slow_parser():
    values = ["0", "-0", "+0", "12", "-3.50", "007", "9999999999999999", "-9999999999999999", "10000000000000000",
              "9999999999999999.9999", "0.00000000000000000000001", "1.", ".5", "1e3", "1,000", "1 000", "--1", "+-1",
              "1.2.3", "١٢", "12a", " 12", "1" * 39, "1" * 41, "0" * 50 + "1", "٣"]  # fmt: skip
    with connection.cursor() as cur:
        cur.execute(
            "SELECT v FROM unnest(%s::text[]) v WHERE bulk_to_numeric(v) IS DISTINCT FROM bulk_to_numeric_slow(v)",
            [values],
        )
        assert cur.fetchall() == []
