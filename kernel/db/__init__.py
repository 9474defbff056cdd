"""How SQL reaches PostgreSQL: composed with `psycopg.sql`, every value a parameter.

Django's psycopg backend binds parameters on the client side, and psycopg looks for `%s` and
`%(name)s` in the whole text of a statement that has parameters, quoted literals included: a
literal `'x%(k1)s'` in composed SQL becomes the text of parameter `k1`. So nothing a client sent
(identifiers, definition keys, names, uploaded cells, lane bounds sampled from them, anything read
back that a client wrote) is ever part of SQL text:

- `Value(x)` puts `x` in a composed statement as a parameter of its own. The cursor
  (`kernel.db.base`, this package as the database ENGINE) collects a statement's values into its
  parameters, so a builder needs no parameter dict threaded through it.
- Identifiers are `sql.Identifier` of names we generate, or table names from `_meta.db_table`.
- Whatever `sql.Literal` or `sql.Identifier` text a composed statement still holds has its `%`
  doubled before client-side binding, so no text can ever turn into a placeholder.

App code never calls `sql.Literal` (the guard in tests/kernel/test_sql_guard.py fails on one).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from psycopg import sql

__all__ = ["Value", "bind", "render", "STATEMENT_OBSERVERS"]

# Called with the text of every statement before its parameters are bound (tests watch for client
# text in it). Empty in production: one truth test per statement.
STATEMENT_OBSERVERS: list[Callable[[str], None]] = []

_names = itertools.count()


class Value(sql.Placeholder):
    """A value in a composed statement, sent as a query parameter of its own (`%(_v<n>)s`)."""

    def __init__(self, value: Any):
        self.key = f"_v{next(_names)}"
        super().__init__(self.key)
        self.value = value

    def __repr__(self) -> str:
        return f"Value({self.value!r})"


def _leaves(query: sql.Composable) -> Iterator[sql.Composable]:
    """The statement's leaves in order (iteratively: a statement over many custom fields nests deep)."""
    stack = [query]
    while stack:
        node = stack.pop()
        if isinstance(node, sql.Composed):
            stack.extend(reversed(list(node)))
        else:
            yield node


def render(query: sql.Composable, context: Any, *, escape: bool) -> str:
    """The statement's text. With `escape` (it will be bound), `%` in literals and identifiers is
    doubled, so that only our own `sql.SQL` text and placeholders hold placeholders."""
    parts = []
    for leaf in _leaves(query):
        text = leaf.as_string(context)
        if escape and not isinstance(leaf, (sql.SQL, sql.Placeholder)):
            text = text.replace("%", "%%")
        parts.append(text)
    return "".join(parts)


def bind(query: Any, params: Any, context: Any) -> tuple[Any, Any]:
    """(text, parameters) for the cursor: a composed statement's `Value`s join its parameters."""
    if not isinstance(query, sql.Composable):
        for observe in STATEMENT_OBSERVERS:
            observe(query if isinstance(query, str) else bytes(query).decode(errors="replace"))
        return query, params
    values = {leaf.key: leaf.value for leaf in _leaves(query) if isinstance(leaf, Value)}
    if values:
        if params is None:
            params = values
        elif isinstance(params, Mapping):
            params = {**params, **values}
        else:
            raise TypeError("a statement holding Value()s takes its other parameters by name, not by position")
    text = render(query, context, escape=params is not None)
    for observe in STATEMENT_OBSERVERS:
        observe(text)
    return text, params
