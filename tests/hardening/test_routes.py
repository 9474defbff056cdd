"""Every route's path parameters are bounded: no Django `int` (any number of digits) anywhere, so an
id in a URL always fits PostgreSQL's bigint and a huge one never reaches Python's int()."""

from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import IntConverter

from kernel.converters import IdConverter


def _patterns(resolver: URLResolver, prefix: str = ""):
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        yield route, entry.pattern.converters if hasattr(entry.pattern, "converters") else {}
        if isinstance(entry, URLResolver):
            yield from _patterns(entry, route)
        else:
            assert isinstance(entry, URLPattern)


def test_no_route_takes_an_unbounded_number():
    unbounded = [
        (route, name)
        for route, converters in _patterns(get_resolver())
        for name, converter in converters.items()
        if isinstance(converter, IntConverter)
    ]
    assert unbounded == []


def test_ids_are_one_to_eighteen_digits():
    ids = [route for route, converters in _patterns(get_resolver()) if any(
        isinstance(c, IdConverter) for c in converters.values())]  # fmt: skip
    assert any("syncs/<id:pk>" in route for route in ids) and any("stages/<id:pk>" in route for route in ids)
    assert IdConverter.regex == "[0-9]{1,18}" and 10**18 - 1 < 2**63 - 1
