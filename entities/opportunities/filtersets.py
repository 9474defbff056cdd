"""List filters of the `/api/v1` REST lists (wire names). Every value is checked: a value a filter
cannot use (`isActive=maybe`, `ownerId=1.5`, a NUL character, an impossible date) is a 400 naming
the parameter, never ignored and never passed to the database."""

from __future__ import annotations

import django_filters

from entities.opportunities.models import Opportunity, Priority, StageStatus
from kernel.filters import BooleanFilter, IdFilter, IsoDateTimeFilter, TextFilter


class OpportunityFilterSet(django_filters.FilterSet):
    externalId = TextFilter(field_name="external_id", help_text="Exact external id.")
    opportunityStageId = IdFilter(field_name="stage_id", help_text="Stage id.")
    statusId = django_filters.ChoiceFilter(
        field_name="stage__status", choices=StageStatus.choices, help_text="The stage's status."
    )
    companyId = django_filters.UUIDFilter(field_name="company__uuid", help_text="Company (account) uuid.")
    ownerId = IdFilter(field_name="owner_id", help_text="Owner id.")
    currency = TextFilter(field_name="currency", lookup_expr="iexact", help_text="ISO 4217 code.")
    priorityId = django_filters.ChoiceFilter(field_name="priority", choices=Priority.choices)
    isActive = BooleanFilter(field_name="is_active", help_text="true or false.")
    tagId = IdFilter(field_name="tags", help_text="Has this tag.", distinct=True)
    closeDateFrom = django_filters.DateFilter(
        field_name="close_date", lookup_expr="gte", help_text="closeDate on or after (YYYY-MM-DD)."
    )
    closeDateTo = django_filters.DateFilter(
        field_name="close_date", lookup_expr="lte", help_text="closeDate on or before (YYYY-MM-DD)."
    )
    modifiedSince = IsoDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", help_text="modifiedAt at or after (ISO 8601)."
    )
    search = TextFilter(field_name="name", lookup_expr="icontains", help_text="Text in the name.")

    class Meta:
        model = Opportunity
        fields: list[str] = []
