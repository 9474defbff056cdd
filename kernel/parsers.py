"""Request body parsers for every DRF view: DRF's, plus the shared input bounds (kernel.limits).

JSON: nesting at most JSON_MAX_DEPTH (a 100,000-deep body is refused at Python's recursion limit,
in microseconds, before anything is built), numbers at most MAX_NUMBER_CHARS characters and finite,
no NUL or unpaired surrogate in any key or string. Forms: the same text rule on every field name and
value. Each refusal is a 400 naming the field (`deals[3].name`). The body size is Django's
DATA_UPLOAD_MAX_MEMORY_SIZE (API_MAX_BODY_BYTES), answered as a 413 by the exception handler.
"""

from __future__ import annotations

import codecs
import json

from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils.json import strict_constant

from kernel.exceptions import Failure, ValidationFailed
from kernel.limits import json_failure, json_max_depth, parse_json_float, parse_json_int, text_failure, text_problem


def _refuse(failure: Failure):
    raise ValidationFailed([failure])


def load_json(text: str, *, per_item: str | None = None):
    """Parse an ordinary (bounded) JSON body under the shared bounds; ValidationFailed or ParseError.

    `per_item` names a top-level array whose elements the endpoint checks one by one (the deal
    upsert's `deals`: one bad deal fails alone, so `json_failure` runs on each deal there, not here).
    Everything else in the body, the nesting limit and the syntax stay whole-body errors."""
    try:
        data = json.loads(text, parse_int=parse_json_int, parse_float=parse_json_float, parse_constant=strict_constant)
    except RecursionError:
        _refuse(Failure(field="body", constraint=f"Arrays and objects nest at most {json_max_depth()} deep."))
    except ValueError as exc:
        raise ParseError(f"JSON parse error - {exc}") from None
    if per_item is not None and isinstance(data, dict) and isinstance(data.get(per_item), list):
        failure = json_failure({k: v for k, v in data.items() if k != per_item})
    else:
        failure = json_failure(data)
    if failure is not None:
        _refuse(failure)
    return data


class JSONParser(parsers.JSONParser):
    per_item: str | None = None  # see load_json

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        try:
            text = codecs.getreader(encoding)(stream).read()
        except UnicodeDecodeError:
            raise ParseError(f"JSON parse error - the body is not {encoding}.") from None
        return load_json(text, per_item=self.per_item)


def per_item_json_parser(key: str) -> type[JSONParser]:
    """A JSONParser leaving the elements of the top-level array `key` to be checked one by one."""
    return type(f"PerItem{key.title()}JSONParser", (JSONParser,), {"per_item": key})


def form_failure(data) -> Failure | None:
    """The first form field (name or value) that is not storable text, or None."""
    for key, values in data.lists():
        problem = text_problem(key)
        if problem is not None:
            return Failure(field="body", value=key, constraint="Field name: " + problem)
        for value in values:
            if isinstance(value, str):
                failure = text_failure(value, field=key)
                if failure is not None:
                    return failure
    return None


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        failure = form_failure(data)
        if failure is not None:
            _refuse(failure)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        failure = form_failure(parsed.data)
        if failure is not None:
            _refuse(failure)
        return parsed
