"""Reads the opportunity REST views and the deal upsert share; every one takes the site."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from entities.opportunities.models import Opportunity, OpportunityProject, Stage, StageStatus
from kernel.exceptions import NotFound
from kernel.models import Site


def opportunity_list(*, site: Site | int) -> QuerySet[Opportunity]:
    """The site's opportunities with what a rendered page needs, loaded once per page."""
    return (
        Opportunity.objects.for_site(site)
        .select_related("company", "owner", "stage", "stage__pipeline")
        .prefetch_related("tags")
    )


def opportunity_list_detailed(*, site: Site | int) -> QuerySet[Opportunity]:
    """`opportunity_list` with every reference Ruddr's shape shows (type, lead source, practice, the
    company's client, projects with their amounts), still loaded once per page."""
    lines = OpportunityProject.objects.select_related("project").order_by("id")
    return (
        opportunity_list(site=site)
        .select_related("opportunity_type", "lead_source", "practice", "company__client")
        .prefetch_related(Prefetch("project_lines", queryset=lines))
    )


def opportunity_get(*, site: Site, uuid, detailed: bool = False) -> Opportunity:
    """One opportunity of the site by its uuid; another site's (or a malformed id) is a 404."""
    qs = opportunity_list_detailed(site=site) if detailed else opportunity_list(site=site)
    opp = qs.filter(uuid=uuid).first()
    if opp is None:
        raise NotFound(message="Opportunity not found.")
    return opp


def stage_default(*, site: Site) -> Stage | None:
    """The stage a new opportunity gets when none is named: the site's default stage (a setting its
    admins choose; imports never change it); without one, as Ruddr does, the stage with the lowest
    probability. Only active, open stages with a probability count: a new opportunity is never
    born won, lost or in a retired stage, and a stage an import created by name has no
    probability until someone sets one, so a typo in a file never becomes the default.
    None when no stage qualifies."""
    stages = Stage.objects.for_site(site)
    if site.default_stage_id is not None:
        return stages.filter(pk=site.default_stage_id).first()
    candidates = stages.filter(is_active=True, status=StageStatus.OPEN, probability__isnull=False)
    return candidates.order_by("probability", "sort_order", "id").first()


def stage_list(*, site: Site) -> QuerySet[Stage]:
    return Stage.objects.for_site(site).select_related("pipeline").order_by("sort_order", "id")
