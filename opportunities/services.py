"""Opportunity-side writes: the site's stage list."""

from __future__ import annotations

from decimal import Decimal

from bulkapi.models import Site

from .models import Stage, StageStatus

DEFAULT_STAGES = (
    ("Prospecting", "0.1", StageStatus.OPEN),
    ("Qualification", "0.2", StageStatus.OPEN),
    ("Needs Analysis", "0.3", StageStatus.OPEN),
    ("Proposal", "0.5", StageStatus.OPEN),
    ("Negotiation", "0.7", StageStatus.OPEN),
    ("Closed Won", "1", StageStatus.WON),
    ("Closed Lost", "0", StageStatus.LOST),
)


def stages_create_defaults(*, site: Site) -> list[Stage]:
    """The usual CRM stage list for a new site; existing names are left as they are."""
    stages = [
        Stage(site=site, name=name, probability=Decimal(p), status=status, sort_order=i * 10)
        for i, (name, p, status) in enumerate(DEFAULT_STAGES, start=1)
    ]
    return Stage.objects.bulk_create(stages, ignore_conflicts=True)
