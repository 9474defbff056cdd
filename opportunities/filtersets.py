"""List filters of `GET /api/v1/opportunities` (wire names; invalid values are a 400)."""

from __future__ import annotations

import django_filters

from bulkapi.filters import IsoDateTimeFilter

from .models import Opportunity, Priority, StageStatus


class OpportunityFilterSet(django_filters.FilterSet):
    externalId = django_filters.CharFilter(field_name="external_id", help_text="Exact external id.")
    opportunityStageId = django_filters.NumberFilter(field_name="stage_id", help_text="Stage id.")
    statusId = django_filters.ChoiceFilter(
        field_name="stage__status", choices=StageStatus.choices, help_text="The stage's status."
    )
    companyId = django_filters.UUIDFilter(field_name="company__uuid", help_text="Company (account) uuid.")
    ownerId = django_filters.NumberFilter(field_name="owner_id", help_text="Owner id.")
    currency = django_filters.CharFilter(field_name="currency", lookup_expr="iexact", help_text="ISO 4217 code.")
    priorityId = django_filters.ChoiceFilter(field_name="priority", choices=Priority.choices)
    isActive = django_filters.BooleanFilter(field_name="is_active")
    tagId = django_filters.NumberFilter(field_name="tags", help_text="Has this tag.", distinct=True)
    closeDateFrom = django_filters.DateFilter(
        field_name="close_date", lookup_expr="gte", help_text="closeDate on or after (YYYY-MM-DD)."
    )
    closeDateTo = django_filters.DateFilter(
        field_name="close_date", lookup_expr="lte", help_text="closeDate on or before (YYYY-MM-DD)."
    )
    modifiedSince = IsoDateTimeFilter(
        field_name="updated_at", lookup_expr="gte", help_text="modifiedAt at or after (ISO 8601)."
    )
    search = django_filters.CharFilter(field_name="name", lookup_expr="icontains", help_text="Text in the name.")

    class Meta:
        model = Opportunity
        fields: list[str] = []
