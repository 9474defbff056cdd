"""`{% backoffice_dashboard %}` (the admin index's syncs and batch jobs) and small display filters."""

from __future__ import annotations

from django import template

from doors.admin.selectors import dashboard_get
from kernel.replica import replica_reads
from pipeline.selectors import duration_text

register = template.Library()


@register.inclusion_tag("backoffice/dashboard.html", takes_context=True)
def backoffice_dashboard(context):
    request = context["request"]
    with replica_reads(user_id=request.user.pk):  # the replica when it has this user's writes
        dashboard = dashboard_get(user=request.user)
    return {
        "dashboard": dashboard,
        "perms": context.get("perms"),
        "can_import": request.user.has_perms(["syncs.add_sync", "bulkapi.add_stagedupload"]),
    }


@register.filter
def duration(seconds) -> str:
    """12 s, 3 min 04 s, 2 h 05 min; "-" when unknown."""
    return duration_text(seconds)


@register.filter
def rate(value) -> str:
    """Rows per second, for people: "12,345 rows/s"; "-" when unknown."""
    return "-" if value is None else f"{value:,.0f} rows/s"


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if isinstance(mapping, dict) else None
