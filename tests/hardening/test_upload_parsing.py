"""The streamed JSON upload parser: what its C parser (yajl2_c) must not see is kept from it at
every byte offset of a read, and hostile shapes are refused quickly with bounded memory.

No database: `_json_rows` turns a body into staged `data` strings or a ValidationFailed."""

from __future__ import annotations

import io
import json

import pytest

from kernel.exceptions import ValidationFailed
from kernel.jsonguard import GUARD_CHUNK, MAX_DIGIT_RUN
from pipeline.staging import _json_rows

KEYS = {"a": "a", "b": "b"}


def rows(body: bytes, keys=KEYS) -> list[dict]:
    return [json.loads(data) for (data,) in _json_rows(io.BufferedReader(io.BytesIO(body), 65536), keys, set())]


def refusal(body: bytes, keys=KEYS) -> dict:
    with pytest.raises(ValidationFailed) as caught:
        rows(body, keys)
    return caught.value.failures[0].as_dict()


# Every offset around a read boundary: the guard's cut must never split an escape, a digit run or a
# UTF-8 character, nor leave a backslash unpaired.
OFFSETS = [*range(GUARD_CHUNK - 1100, GUARD_CHUNK - 1000), *range(GUARD_CHUNK - 40, GUARD_CHUNK + 40)]


@pytest.mark.parametrize("offset", OFFSETS)
def test_what_is_valid_passes_unchanged_at_every_offset(offset):
    pad = "x" * offset
    body = json.dumps(
        [{"a": pad + "\ud83d\ude00é", "b": "\\ud800 is text here"}, {"a": "9" * MAX_DIGIT_RUN, "b": 12.5e-3}],
        ensure_ascii=True,
    ).encode()
    assert rows(body) == [
        {"a": pad + "\U0001f600é", "b": "\\ud800 is text here"},
        {"a": "9" * MAX_DIGIT_RUN, "b": "0.0125"},
    ]


@pytest.mark.parametrize("offset", OFFSETS[::7])
@pytest.mark.parametrize(
    "bad,constraint",
    [
        (b'"\\ud800"', "unpaired surrogate"),
        (b'"\\udfff tail"', "unpaired surrogate"),
        (b'"\\\\\\ud800"', "unpaired surrogate"),  # an escaped backslash, then the escape
        (b'"caf\xe9"', "UTF-8"),
        (b'"' + b"7" * (MAX_DIGIT_RUN + 1) + b'"', "digits"),
    ],
)
def test_what_yajl_must_not_see_is_named_at_every_offset(offset, bad, constraint):
    body = b'[{"a": "1"}, {"a": "' + b"x" * offset + b'", "b": ' + bad + b"}]"
    failure = refusal(body)
    assert failure["row"] == 2 and failure["field"] == "b" and constraint in failure["constraint"]


@pytest.mark.parametrize(
    "number",
    [b"1" * 5000, b"-" + b"1" * 5000, b"1e99999999999999999999", b"1.5E+1234567890123456789", b"0." + b"0" * 4000],
)
def test_numbers_python_or_decimal_cannot_convert_are_refused(number):
    """yajl2_c converts numbers by calling Python; a failed call left the worker to a SIGSEGV."""
    failure = refusal(b'[{"a": "1"}, {"a": ' + number + b"}]")
    assert "digits" in failure["constraint"] and "element 2" in failure["constraint"]


def test_an_ignored_column_is_held_to_the_same_rules():
    assert refusal(b'[{"zz": "\\ud800"}]', keys={"a": "a"}) == {
        "field": "zz",
        "row": 1,
        "constraint": "Must not contain unpaired surrogate characters (U+D800 to U+DFFF).",
    }
    assert refusal(b'[{"zz": "a\\u0000"}]', keys={"a": "a"})["field"] == "zz"


@pytest.mark.parametrize(
    "body,row,constraint",
    [
        (b"[" + b"[" * 1_000_000 + b"]" * 1_000_000 + b"]", 1, "must be a JSON object"),
        (b'[{"a": ' + b"[" * 1_000_000 + b"]" * 1_000_000 + b"}]", 1, "Values must be"),
        (b'[{"a": "' + b"\\\\" * (4 * GUARD_CHUNK) + b'"}]', 1, "at most 1048576 bytes"),
        (b'[{"a": "' + "é".encode() * (4 * GUARD_CHUNK) + b'"}]', 1, "at most 1048576 bytes"),
        (b'[{"a": 1}, ' + b" " * (8 * GUARD_CHUNK) + b"]", 1, "at most 1048576 bytes"),
        (b'[{"a": ' + b"1" * (20 * GUARD_CHUNK) + b"}]", None, "digits"),
    ],
)
def test_hostile_shapes_are_refused(body, row, constraint):
    """Nesting a million deep (ijson.items built a path string per level: gigabytes), strings of
    escapes or non-ASCII that yajl re-reads from their start at every chunk, a 5 MB number."""
    failure = refusal(body)
    assert failure.get("row") == row and constraint.lower() in failure["constraint"].lower()
