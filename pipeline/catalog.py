"""Field catalogs: each importable entity registers its standard fields; sites add custom ones.

The catalog is what `/…/fields` lists and what definitions are validated against, so a custom
field appears and imports exactly like a standard one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from kernel.exceptions import Failure, ValidationFailed
from kernel.models import Site, entity_choices_register
from pipeline.models import CustomField, DataType
from pipeline.statements import Statement, StatementError, parse_statement

CUSTOM_FIELD_ID_BASE = 1_000_000


@dataclass(frozen=True)
class FieldSpec:
    id: int
    name: str
    internal_name: str
    statement: str
    data_type: str
    column: str | None  # target column; None for custom fields (stored in custom_fields)
    max_length: int | None = None
    not_null: bool = False
    read_only: bool = False
    unique: bool = False
    custom_key: str | None = None  # key in custom_fields for custom fields

    @property
    def key(self) -> str:
        return parse_statement(self.statement).key


@dataclass(frozen=True)
class EntitySpec:
    """What the pipeline knows of an importable entity: registered by its package (`register`),
    never named by the pipeline itself."""

    entity: str  # the definition's `entity` value, e.g. "opportunity"
    statement_root: str  # e.g. "opportunity"
    fields_uri: str  # e.g. "/opportunities/fields"
    standard: tuple[FieldSpec, ...]
    label: str = ""  # e.g. "Opportunity" (admin choices)
    imports_uri: str = ""  # e.g. "/opportunities/imports": a definition's uri is this, then its id
    # False: definitions another door makes to run on the pipeline; the Bulk API never routes them.
    bulk_routed: bool = True
    required: tuple[str, ...] = ()  # statement keys every definition must map
    identifier: str | None = None  # statement key the identifier must be mapped to
    hidden: tuple[FieldSpec, ...] = field(default_factory=tuple)  # valid, not listed by /fields
    identifiers: tuple[str, ...] = ()  # statement keys allowed as identifier (empty: any field)
    # Target columns that several statements can write (a contact's account, named by any account
    # identifier): a definition may map at most one statement to each.
    exclusive_columns: tuple[str, ...] = ()
    # isIdentifierFieldCaseSensitive on the wire: "first" (always, before name), "optional" (after
    # fields, when true) or "never" (not taken: the identifier is a match rule of its own).
    case_sensitive_flag: str = "optional"
    # An entity whose definitions carry more than the common properties: validates them into model
    # values and returns the identifier key (body, pairs, resolved, ident, values, failures) -> str,
    # and renders them (definition) -> dict.
    validate_extra: Callable[..., str | None] | None = None
    render_extra: Callable[..., dict] | None = None

    def fields_for(self, site: Site) -> list[FieldSpec]:
        """The standard fields, then the site's custom ones that a statement can name: a custom
        field stored before names were checked (`custom_field_name_problem`) is left out, so it
        neither breaks the entity's imports nor shadows a standard field (admin flags it)."""
        custom = CustomField.objects.for_site(site).filter(entity=self.entity).order_by("id")
        usable = [cf for cf in custom if custom_field_name_problem(self, cf.internal_name) is None]
        return list(self.standard) + [custom_field_spec(self, cf) for cf in usable]

    @cached_property
    def reserved_keys(self) -> frozenset[str]:
        """Statement keys of the standard and hidden fields: no custom field may take one."""
        return frozenset(f.key for f in (*self.standard, *self.hidden))

    def lookup(self, site: Site) -> dict[str, FieldSpec]:
        """Statement key -> field, including the valid-but-unlisted system statements."""
        return {f.key: f for f in (*self.fields_for(site), *self.hidden)}


def custom_field_statement(spec: EntitySpec, internal_name: str) -> str:
    """`{{Opportunity.Field(<internal name>)}}`: how a definition names a custom field."""
    return f"{{{{{spec.statement_root.capitalize()}.Field({internal_name})}}}}"


CUSTOM_NAME_RULE = "letters (A-Z, a-z), digits and underscores only, as in Region_Code"


def custom_field_name_problem(spec: EntitySpec, internal_name: str) -> str | None:
    """Why `internal_name` cannot name a custom field of the entity, or None.

    Its statement, `{{Opportunity.Field(<name>)}}`, must parse back to exactly that name (the
    statement grammar allows letters, digits and underscores; a space, an accent or a bracket
    would make the statement unparseable, and the site's whole catalog with it), and must not be a
    standard field's statement (in any letter case), which the custom field would shadow."""
    statement = custom_field_statement(spec, internal_name)
    try:
        parsed = parse_statement(statement)
    except StatementError:
        parsed = None
    if parsed is None or parsed.field != internal_name:
        return f"{statement} is not a statement a definition can use: the internal name takes {CUSTOM_NAME_RULE}."
    if parsed.key in spec.reserved_keys:
        return f"{statement} is a standard {spec.statement_root} field's statement: pick another internal name."
    return None


def validate_custom_field_name(*, entity: str, internal_name: str) -> None:
    """ValidationFailed (400, field `internalName`) for a name `custom_field_name_problem` refuses,
    or for an entity whose imports take no custom fields."""
    spec = _REGISTRY.get(entity)
    problem = (
        f"The {entity} entity takes no custom fields."
        if spec is None
        else custom_field_name_problem(spec, internal_name)
    )
    if problem is not None:
        raise ValidationFailed([Failure(field="internalName", value=internal_name, constraint=problem)])


def custom_field_spec(spec: EntitySpec, cf: CustomField) -> FieldSpec:
    return FieldSpec(
        id=CUSTOM_FIELD_ID_BASE + cf.pk,
        name=cf.name,
        internal_name=cf.internal_name,
        statement=custom_field_statement(spec, cf.internal_name),
        data_type=cf.data_type,
        column=None,
        max_length=cf.max_length if cf.data_type in (DataType.STRING, DataType.LARGE_TEXT) else None,
        custom_key=cf.internal_name,
    )


@dataclass
class Mapping:
    """One column of a definition as a sync sees it: key, catalog field, effective update rule."""

    key: str  # definition key (JSON key / CSV header)
    field: FieldSpec
    rule: str
    index: int = 0  # position, naming the SQL columns v<i> (raw) and p<i> (parsed)

    @property
    def raw(self):
        from psycopg import sql

        return sql.Identifier(f"v{self.index}")

    @property
    def parsed(self):
        from psycopg import sql

        return sql.Identifier(f"p{self.index}")

    @property
    def name(self):
        """The key as a query parameter: keys are free text and may contain `%`."""
        from psycopg import sql

        return sql.Placeholder(f"k{self.index}")


def mappings_for(definition) -> list[Mapping]:
    """The definition's columns resolved against the site's catalog, with their update rules."""
    from pipeline.models import UpdateRule

    catalog = entity_spec(definition.entity).lookup(definition.site)
    by_field = definition.update_rule_by_field or {}
    rule = definition.update_rule or UpdateRule.ALWAYS
    out = []
    for i, (key, statement) in enumerate(definition.fields):
        field = catalog[parse_statement(statement).key]
        field_rule = by_field.get(key, UpdateRule.ALWAYS) if rule == UpdateRule.USE_FIELD_RULE else rule
        out.append(Mapping(key=key, field=field, rule=field_rule, index=i))
    return out


_REGISTRY: dict[str, EntitySpec] = {}


def register(spec: EntitySpec) -> None:
    _REGISTRY[spec.entity] = spec
    entity_choices_register(spec.entity, spec.label or spec.entity)


def entity_spec(entity: str) -> EntitySpec:
    return _REGISTRY[entity]


def entity_specs() -> list[EntitySpec]:
    """Every registered entity, in registration order."""
    return list(_REGISTRY.values())


def resolve(statement: Statement, fields: dict[str, FieldSpec]) -> FieldSpec | None:
    return fields.get(statement.key)
