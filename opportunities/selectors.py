"""Reads the opportunity REST views and the deal upsert share; every one takes the site."""

from __future__ import annotations

from django.db.models import QuerySet

from bulkapi.exceptions import NotFound
from bulkapi.models import Site

from .models import Opportunity, Stage, StageStatus


def opportunity_list(*, site: Site) -> QuerySet[Opportunity]:
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
    """The stage a new opportunity gets when none is named: the lowest probability among the
    site's open stages (a new deal is not already won or lost), else among all its stages;
    ties go to the list order."""
    stages = Stage.objects.for_site(site).order_by("probability", "sort_order", "id")
    return stages.filter(status=StageStatus.OPEN).first() or stages.first()
