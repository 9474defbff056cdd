"""Opportunities and the site's own stage list."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Lower, Now

from kernel.models import UUID7, Site
from kernel.querysets import SiteScopedQuerySet


class StageStatus(models.TextChoices):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


class Pipeline(models.Model):
    """A sales pipeline; deals name it by the CRM's id (`pipelineId`)."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="pipelines")
    external_id = models.CharField(max_length=255)
    label = models.CharField(max_length=255)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint("site", "external_id", name="pipeline_site_external_id_unique")]

    def __str__(self) -> str:
        return self.label


class Stage(models.Model):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=100)
    # The CRM's id for the stage (a deal's `stageId`), when it came from one.
    external_id = models.CharField(max_length=255, null=True, blank=True)
    uuid = models.UUIDField(db_default=UUID7(), unique=True, editable=False)
    pipeline = models.ForeignKey(Pipeline, on_delete=models.SET_NULL, null=True, blank=True, related_name="stages")
    # Null until someone sets it: a stage an import made by name (a typo, perhaps) has none, so it
    # never becomes the lowest-probability stage new opportunities default to (`stage_default`).
    probability = models.DecimalField(max_digits=5, decimal_places=4, null=True, blank=True)
    status = models.CharField(max_length=4, choices=StageStatus.choices, default=StageStatus.OPEN)
    is_active = models.BooleanField(default=True, db_default=True)
    sort_order = models.PositiveIntegerField(default=0)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["sort_order", "id"]
        constraints = [
            models.UniqueConstraint("site", Lower("name"), name="stage_site_name_ci_unique"),
            models.UniqueConstraint(
                "site",
                "external_id",
                condition=models.Q(external_id__isnull=False),
                name="stage_site_external_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Owner(models.Model):
    """Who owns deals: a CRM user, keyed by the CRM's id when it has one."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="owners")
    uuid = models.UUIDField(db_default=UUID7(), unique=True, editable=False)
    external_id = models.CharField(max_length=255, null=True, blank=True)
    name = models.CharField(max_length=255, blank=True, default="")
    email = models.CharField(max_length=254, null=True, blank=True)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "site",
                "external_id",
                condition=models.Q(external_id__isnull=False),
                name="owner_site_external_id_unique",
            )
        ]

    def __str__(self) -> str:
        return self.name or self.email or f"owner {self.pk}"


class Tag(models.Model):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="tags")
    uuid = models.UUIDField(db_default=UUID7(), unique=True, editable=False)
    name = models.CharField(max_length=100)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint("site", Lower("name"), name="tag_site_name_ci_unique")]

    def __str__(self) -> str:
        return self.name


class _NamedPerSite(models.Model):
    """A small, site-scoped list an opportunity picks from by uuid (Ruddr's reference resources)."""

    uuid = models.UUIDField(db_default=UUID7(), unique=True, editable=False)
    name = models.CharField(max_length=255)
    is_active = models.BooleanField(default=True, db_default=True)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.name


class OpportunityType(_NamedPerSite):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="opportunity_types")

    class Meta:
        constraints = [models.UniqueConstraint("site", Lower("name"), name="opportunitytype_site_name_ci_unique")]


class LeadSource(_NamedPerSite):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="lead_sources")

    class Meta:
        constraints = [models.UniqueConstraint("site", Lower("name"), name="leadsource_site_name_ci_unique")]


class Practice(_NamedPerSite):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="practices")

    class Meta:
        constraints = [models.UniqueConstraint("site", Lower("name"), name="practice_site_name_ci_unique")]


class Client(models.Model):
    """A company (account) that became a client: Ruddr's `company.client`. The link lives here
    (one client per company), so an account reads its client as `account.client`."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="clients")
    uuid = models.UUIDField(db_default=UUID7(), unique=True, editable=False)
    key = models.SlugField(max_length=255)
    name = models.CharField(max_length=255)
    company = models.OneToOneField(
        "contacts.Account", on_delete=models.SET_NULL, null=True, blank=True, related_name="client"
    )

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint("site", "key", name="client_site_key_unique")]

    def __str__(self) -> str:
        return self.name


class Project(models.Model):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="projects")
    uuid = models.UUIDField(db_default=UUID7(), unique=True, editable=False)
    name = models.CharField(max_length=255)
    client = models.ForeignKey(Client, on_delete=models.SET_NULL, null=True, blank=True, related_name="projects")
    is_active = models.BooleanField(default=True, db_default=True)

    objects = SiteScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return self.name


class Priority(models.TextChoices):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Opportunity(models.Model):
    """One deal. `external_id` is the id it arrived with (Eloqua's {{Opportunity.Id}})."""

    # No index of its own: every index on the table starting with site serves lookups by site, and
    # a bare site index looks as cheap as (site, lower(external_id)) to a planner with stale row
    # counts, which then scans all of a site's opportunities per staged row.
    # `site` and `stage` are checked set-based, once per statement, by triggers (migration 0004)
    # instead of by FK constraints: an RI check per written row was a fifth of a create sync.
    site = models.ForeignKey(
        Site, on_delete=models.CASCADE, related_name="opportunities", db_index=False, db_constraint=False
    )
    uuid = models.UUIDField(db_default=UUID7(), unique=True, editable=False)
    external_id = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    account_name = models.CharField(max_length=255, null=True, blank=True)
    amount = models.DecimalField(max_digits=20, decimal_places=4, null=True, blank=True)
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="opportunities", db_constraint=False)
    close_date = models.DateField(null=True, blank=True)
    forecast_to_close_date = models.DateField(null=True, blank=True)
    currency = models.CharField(max_length=3, null=True, blank=True)
    territory = models.CharField(max_length=255, null=True, blank=True)
    owner_name = models.CharField(max_length=255, null=True, blank=True)
    primary_campaign_id = models.CharField(max_length=255, null=True, blank=True)
    custom_fields = models.JSONField(default=dict, db_default=models.Value({}, models.JSONField()))
    # The REST/deal doors' fields (the Bulk catalog maps only the Eloqua ones above).
    # Checked per statement too (migration 0005): an FK constraint queues an RI event per inserted
    # row even when the column is null, as it is for every bulk-created opportunity.
    # Indexed only where set (Meta.indexes): an index of every row took a null entry for each
    # bulk-created opportunity (65 bytes of WAL and a few us a row), and every query by them names one.
    company = models.ForeignKey(
        "contacts.Account",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="opportunities",
        db_constraint=False,
        db_index=False,
    )
    owner = models.ForeignKey(
        Owner,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="opportunities",
        db_constraint=False,
        db_index=False,
    )
    description = models.TextField(max_length=5000, null=True, blank=True)
    next_steps = models.CharField(max_length=255, null=True, blank=True)
    probability = models.DecimalField(max_digits=5, decimal_places=4, null=True, blank=True)
    priority = models.CharField(max_length=6, choices=Priority.choices, null=True, blank=True)
    is_active = models.BooleanField(default=True, db_default=True)
    open_date = models.DateField(null=True, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="opportunities")
    # Ruddr's references: checked per statement like company and owner (migration 0007), indexed
    # only where set.
    opportunity_type = models.ForeignKey(
        OpportunityType,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="opportunities",
        db_constraint=False,
        db_index=False,
    )
    lead_source = models.ForeignKey(
        LeadSource,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="opportunities",
        db_constraint=False,
        db_index=False,
    )
    practice = models.ForeignKey(
        Practice,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="opportunities",
        db_constraint=False,
        db_index=False,
    )
    projects = models.ManyToManyField(Project, through="OpportunityProject", blank=True, related_name="opportunities")
    cloud_folder_url = models.CharField(max_length=1024, null=True, blank=True)
    # The record's ids in Salesforce and HubSpot, when it is synced with them.
    salesforce_id = models.CharField(max_length=255, null=True, blank=True)
    hubspot_id = models.CharField(max_length=255, null=True, blank=True)
    # The batch upload door: when the opportunity happened, its labels and extra properties.
    occurred_at = models.DateTimeField(null=True, blank=True)
    labels = ArrayField(
        models.CharField(max_length=255),
        default=list,
        db_default=models.Value([], ArrayField(models.CharField(max_length=255))),
        blank=True,
    )
    properties = models.JSONField(default=dict, db_default=models.Value({}, models.JSONField()), blank=True)
    created_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(db_default=Now())
    # The last bulk sync that wrote this row: a later row of the same sync with the same
    # identifier is a duplicate (ELQ-00026), even across chunks.
    last_sync_id = models.BigIntegerField(null=True, blank=True, editable=False)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "opportunities"
        constraints = [models.UniqueConstraint("site", "external_id", name="opportunity_site_external_id_unique")]
        indexes = [
            models.Index("site", Lower("external_id"), name="opportunity_site_extid_ci"),
            models.Index("company", name="opportunity_company", condition=models.Q(company__isnull=False)),
            models.Index("owner", name="opportunity_owner", condition=models.Q(owner__isnull=False)),
            models.Index(
                "opportunity_type", name="opportunity_type", condition=models.Q(opportunity_type__isnull=False)
            ),
            models.Index("lead_source", name="opportunity_lead_source", condition=models.Q(lead_source__isnull=False)),
            models.Index("practice", name="opportunity_practice", condition=models.Q(practice__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.external_id}: {self.name}"


class OpportunityProject(models.Model):
    """A project an opportunity is for, with the part of the amount that is that project's."""

    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE, related_name="project_lines")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="opportunity_lines")
    amount = models.DecimalField(max_digits=20, decimal_places=4, null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint("opportunity", "project", name="opportunityproject_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.opportunity_id} -> {self.project_id}"
