"""The door's reads: every one takes the caller's site (tenancy in one place)."""

from __future__ import annotations

from django.db.models import QuerySet

from entities.contacts.models import Account
from entities.opportunities.models import LeadSource, OpportunityType, Owner, Practice, Project, Stage, Tag
from kernel.models import Site


def stage_list(*, site: Site) -> QuerySet[Stage]:
    return Stage.objects.for_site(site)


def opportunity_type_list(*, site: Site) -> QuerySet[OpportunityType]:
    return OpportunityType.objects.for_site(site)


def lead_source_list(*, site: Site) -> QuerySet[LeadSource]:
    return LeadSource.objects.for_site(site)


def practice_list(*, site: Site) -> QuerySet[Practice]:
    return Practice.objects.for_site(site)


def tag_list(*, site: Site) -> QuerySet[Tag]:
    return Tag.objects.for_site(site)


def member_list(*, site: Site) -> QuerySet[Owner]:
    return Owner.objects.for_site(site)


def project_list(*, site: Site) -> QuerySet[Project]:
    return Project.objects.for_site(site).select_related("client")


def company_list(*, site: Site) -> QuerySet[Account]:
    return Account.objects.for_site(site).select_related("client")
