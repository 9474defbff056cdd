"""Reads the opportunity REST views and the deal upsert share; every one takes the site."""

from __future__ import annotations

from django.db.models import QuerySet

from entities.opportunities.models import Opportunity, Stage
from kernel.exceptions import NotFound
from kernel.models import Site


def opportunity_list(*, site: Site | int) -> QuerySet[Opportunity]:
    """The site's opportunities with what a rendered page needs, loaded once per page."""
    return (
        Opportunity.objects.for_site(site)
        .select_related("company", "owner", "stage", "stage__pipeline")
        .prefetch_related("tags")
    )


def opportunity_get(*, site: Site, uuid) -> Opportunity:
    """One opportunity of the site by its uuid; another site's (or a malformed id) is a 404."""
    opp = opportunity_list(site=site).filter(uuid=uuid).first()
    if opp is None:
        raise NotFound(message="Opportunity not found.")
    return opp


def stage_default(*, site: Site) -> Stage | None:
    """The stage a new opportunity gets when none is named: the site's default stage (a setting its
    admins choose; imports never change it). None when the site has none."""
    if site.default_stage_id is None:
        return None
    return Stage.objects.for_site(site).filter(pk=site.default_stage_id).first()


def stage_list(*, site: Site) -> QuerySet[Stage]:
    return Stage.objects.for_site(site).select_related("pipeline").order_by("sort_order", "id")
