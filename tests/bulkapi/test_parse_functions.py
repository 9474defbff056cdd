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
