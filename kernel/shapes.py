"""One definition per wire shape: the members that render an answer are the ones the schema shows.

A `Shape` is an ordered list of `Member`s, each a wire name, the DRF field the OpenAPI schema shows
for it, and how its value is read from the object rendered. From that one list come both

- `shape.render(obj, ctx)`: the answer's dict, members in the listed order, by a plain loop (status
  polls and pages of up to 1,000 logs or rejects are hot paths: a DRF `Serializer.to_representation`
  per item costs several times more), and
- `shape.serializer`: a DRF `Serializer` class of the same fields in the same order, under the
  shape's `ref_name` (so the schema's component keeps its name) and with its `doc` as description,
  for drf-spectacular only.

A member whose field is not `required` is an optional member: it is omitted from the answer when its
raw value is unset (None or ""), never rendered as null, and only such members are omitted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from rest_framework import serializers

UNSET = (None, "")


@dataclass(frozen=True)
class Member:
    """`name` on the wire, shown as `field`; its raw value is `read(obj, ctx)` (or the attribute named
    by `attr`, or by `name`), turned into its wire value by `convert` once it is known to be set."""

    name: str
    field: serializers.Field
    attr: str | None = None
    read: Callable[[Any, Any], Any] | None = None
    convert: Callable[[Any], Any] | None = None

    @property
    def optional(self) -> bool:
        return not self.field.required

    def reader(self) -> Callable[[Any, Any], Any]:
        if self.read is not None:
            return self.read
        get = attrgetter(self.attr or self.name)
        return lambda obj, ctx: get(obj)


class Shape:
    """An answer's members, in wire order; see the module docstring."""

    def __init__(self, ref_name: str, members: Sequence[Member], *, doc: str | None = None):
        names = [m.name for m in members]
        if len(set(names)) != len(names):
            raise ValueError(f"{ref_name}: a member is listed twice: {names}")
        self.ref_name = ref_name
        self.members = tuple(members)
        self.doc = doc
        self._plan = tuple((m.name, m.reader(), m.convert, m.optional) for m in self.members)
        self.serializer = self._build_serializer()

    def extend(self, ref_name: str, members: Sequence[Member], *, doc: str | None = None) -> Shape:
        """This shape's members followed by `members`, as a shape of its own."""
        return Shape(ref_name, [*self.members, *members], doc=doc if doc is not None else self.doc)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.members)

    def render(self, obj: Any, ctx: Any = None) -> dict:
        out = {}
        for name, read, convert, optional in self._plan:
            value = read(obj, ctx)
            if optional and value in UNSET:
                continue
            out[name] = convert(value) if convert is not None else value
        return out

    def render_many(self, objs, ctx: Any = None) -> list[dict]:
        render = self.render
        return [render(obj, ctx) for obj in objs]

    def nested(self, name: str, *, read: Callable[[Any, Any], Any] | None = None, **field_kwargs) -> Member:
        """A member rendering this shape (of the object itself, or of what `read` gives)."""
        inner = self.render
        if read is None:
            return Member(name, self.serializer(**field_kwargs), read=inner)
        return Member(name, self.serializer(**field_kwargs), read=lambda obj, ctx: inner(read(obj, ctx), ctx))

    def _build_serializer(self) -> type[serializers.Serializer]:
        attrs: dict[str, Any] = {m.name: m.field for m in self.members}
        attrs["Meta"] = type("Meta", (), {"ref_name": self.ref_name})
        attrs["__doc__"] = self.doc
        attrs["__module__"] = __name__
        attrs["shape"] = self
        return type(f"{self.ref_name}Serializer", (serializers.Serializer,), attrs)
