"""The pipeline's tables: import definitions, custom fields and staged rows (app label `bulkapi`, as
they always were), and syncs: one run of a definition's staged rows, its lanes, logs and rejects."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Lower

from kernel.models import Site, entity_choices
from kernel.querysets import SiteScopedQuerySet


class DataType(models.TextChoices):
    STRING = "string"
    NUMBER = "number"
    DATE = "date"
    BOOLEAN = "boolean"
    EMAIL = "emailAddress"
    LARGE_TEXT = "largeText"


class CustomField(models.Model):
    """A site's own field on an entity; imported like a standard one into `custom_fields`."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="custom_fields")
    entity = models.CharField(max_length=20, choices=entity_choices)
    name = models.CharField(max_length=100)
    internal_name = models.CharField(max_length=100)
    data_type = models.CharField(max_length=20, choices=DataType.choices, default=DataType.STRING)
    max_length = models.PositiveIntegerField(default=1000)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        app_label = "bulkapi"
        constraints = [
            models.UniqueConstraint("site", "entity", Lower("internal_name"), name="customfield_internal_name_unique")
        ]

    def __str__(self) -> str:
        return f"{self.entity}.{self.internal_name}"


class UpdateRule(models.TextChoices):
    ALWAYS = "always"
    IF_NEW_IS_NOT_NULL = "ifNewIsNotNull"
    IF_EXISTING_IS_NULL = "ifExistingIsNull"
    USE_FIELD_RULE = "useFieldRule"


class ImportRule(models.TextChoices):
    CREATE_AND_UPDATE = "createAndUpdate"
    UPDATE_ONLY = "updateOnly"
    CREATE_ONLY = "createOnly"


class ImportDefinition(models.Model):
    """An Eloqua import definition. Nullable columns are 'unset' and omitted on the wire.

    Definitions, custom fields and staged rows are the pipeline's, kept under the `bulkapi` app label
    (Meta.app_label) so that their tables, migrations (kernel/migrations), content types and admin
    URLs stay as they were; a migration for them is made in kernel/migrations."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="import_definitions")
    entity = models.CharField(max_length=20, choices=entity_choices)
    name = models.CharField(max_length=100)
    # [[key, statement], ...]: a list, because jsonb objects do not keep key order.
    fields = models.JSONField()
    identifier_field_name = models.CharField(max_length=100, null=True, blank=True)
    is_identifier_field_case_sensitive = models.BooleanField(default=False)
    update_rule = models.CharField(max_length=20, choices=UpdateRule.choices, null=True, blank=True)
    update_rule_by_field = models.JSONField(null=True, blank=True)
    import_rule = models.CharField(max_length=20, choices=ImportRule.choices, null=True, blank=True)
    is_sync_triggered_on_import = models.BooleanField(default=False)
    is_updating_multiple_matched_records = models.BooleanField(null=True, blank=True)
    null_identifier_field_name = models.BooleanField(null=True, blank=True)
    data_retention_duration = models.CharField(max_length=40, default="P7D")
    data_retention_seconds = models.PositiveIntegerField(default=7 * 86400)
    auto_delete_duration = models.CharField(max_length=40, null=True, blank=True)
    auto_delete_at = models.DateTimeField(null=True, blank=True, db_index=True)
    import_priority_uri = models.CharField(max_length=200, null=True, blank=True)
    external_system_id = models.BigIntegerField(null=True, blank=True)
    link_entity_type = models.CharField(max_length=10, null=True, blank=True)
    link_match_field_name = models.CharField(max_length=100, null=True, blank=True)
    link_source_field = models.CharField(max_length=100, null=True, blank=True)
    link_case_sensitive_match_field = models.BooleanField(default=False)
    link_case_sensitive_source_field = models.BooleanField(default=False)
    link_multiple_source_matches = models.BooleanField(default=False)
    # Made by another door (batch upload) to run on this pipeline; hidden from Bulk API lists.
    is_internal = models.BooleanField(default=False)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_by = models.CharField(max_length=150)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        app_label = "bulkapi"
        indexes = [models.Index(fields=["site", "entity", "id"])]

    def __str__(self) -> str:
        return f"{self.entity} import {self.pk}: {self.name}"

    @property
    def field_map(self) -> dict[str, str]:
        return dict(self.fields)

    @property
    def uri(self) -> str:
        from pipeline.definitions import definition_uri

        return definition_uri(self)


class StagedUpload(models.Model):
    """One POST of data: what its columns were, for the sync's ELQ-00111/00121 logs."""

    definition = models.ForeignKey(ImportDefinition, on_delete=models.CASCADE, related_name="uploads")
    sync = models.ForeignKey("syncs.Sync", on_delete=models.SET_NULL, null=True, blank=True)
    content_type = models.CharField(max_length=20)
    columns = models.JSONField(default=list)
    row_count = models.BigIntegerField(default=0)
    byte_count = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    site_path = "definition__site"

    class Meta:
        app_label = "bulkapi"

    def __str__(self) -> str:
        return f"upload {self.pk} of definition {self.definition_id}"


class StagedRow(models.Model):
    """A row waiting for a sync: the definition keys it carried, as strings (or null)."""

    # No database foreign keys: they would cost two checks per staged row at commit (a third of a
    # CSV upload's time) to guard what locks already guarantee. An upload holds its definition FOR
    # SHARE; deleting a definition (FOR UPDATE) or purging an upload deletes their rows with them.
    definition = models.ForeignKey(
        ImportDefinition, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False, db_index=False
    )
    upload = models.ForeignKey(
        StagedUpload, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False, db_index=False
    )
    data = models.JSONField()

    # The table's primary key is (definition_id, id) (migration 0008), its only index: readers find
    # staged rows by definition and id range, so join on both. `id` comes from a sequence, unique.

    class Meta:
        app_label = "bulkapi"

    def __str__(self) -> str:
        return f"staged row {self.pk} of definition {self.definition_id}"


class SyncStatus(models.TextChoices):
    """Eloqua's exact wire strings; never any other (reference 8.3)."""

    PENDING = "pending"
    ACTIVE = "active"
    SUCCESS = "success"
    WARNING = "warning"
    ERROR = "error"


TERMINAL = (SyncStatus.SUCCESS, SyncStatus.WARNING, SyncStatus.ERROR)


class Sync(models.Model):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="syncs")
    definition = models.ForeignKey(
        ImportDefinition, on_delete=models.SET_NULL, null=True, blank=True, related_name="syncs"
    )
    synced_instance_uri = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=SyncStatus.choices, default=SyncStatus.PENDING)
    callback_url = models.URLField(max_length=2000, null=True, blank=True)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sync_started_at = models.DateTimeField(null=True, blank=True)
    sync_ended_at = models.DateTimeField(null=True, blank=True)
    # The snapshot: staged rows of the definition with id <= upto_id, taken when the sync was made.
    upto_id = models.BigIntegerField(default=0)
    # The snapshot cut into ranges of `range_rows` staged rows (the last may be shorter): range i is
    # the ids in (range_ends[i-1], range_ends[i]]. Each of `lanes` lanes works through every range
    # in order, taking the rows whose identifier falls in its part of the identifiers, so lanes run
    # side by side on any workers without ever touching the same record (`services.sync_run_chunk`).
    range_ends = ArrayField(models.BigIntegerField(), default=list, blank=True)
    range_rows = models.IntegerField(default=0)
    # Rows of range 0 when it is shorter than the others (a laned sync's first range, which lane 0
    # runs alone); null: as long as the others (syncs made before).
    first_range_rows = models.IntegerField(null=True, blank=True)
    lanes = models.PositiveSmallIntegerField(default=1)
    # Where lanes 1.. start in the (lower-cased, C-collated) lane keys: quantiles of a sample taken
    # at snapshot time. Null: lanes by a hash of the key (one lane, a sample too small to cut, or a
    # sync made before key ranges).
    lane_bounds = ArrayField(models.TextField(), null=True, blank=True)
    total_rows = models.BigIntegerField(default=0)
    # The snapshot's staged ids are contiguous (the usual case: nothing else was staged in between),
    # so a row's record index is its id minus `upto_id - total_rows`, with no count over its range.
    dense = models.BooleanField(default=False)
    processed = models.BigIntegerField(default=0)
    rejected = models.BigIntegerField(default=0)
    created_count = models.BigIntegerField(default=0)
    updated_count = models.BigIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    error_message = models.TextField(blank=True, default="")
    # An entity's own counters beyond the four above (linkage: `links`, the links a sync created).
    extra_counts = models.JSONField(default=dict, blank=True)
    # Who cancelled it (`POST .../cancel`, admin, the operator command); empty when nobody did.
    cancelled_by = models.CharField(max_length=150, blank=True, default="")
    # The errored sync whose unprocessed rows this sync retries (`POST .../retry`); one retry each.
    retry_of = models.OneToOneField("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="retried_by")

    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["status", "heartbeat_at"])]
        constraints = [
            # One running sync per definition: a second POST /syncs gets a 409.
            models.UniqueConstraint(
                "definition",
                condition=models.Q(status__in=["pending", "active"]),
                name="sync_one_running_per_definition",
            )
        ]

    def __str__(self) -> str:
        return f"sync {self.pk} ({self.status})"

    @property
    def uri(self) -> str:
        return f"/syncs/{self.pk}"


class SyncLane(models.Model):
    """Resume point of one lane of a sync: ranges before `next_range` are stored or rejected, committed."""

    sync = models.ForeignKey(Sync, on_delete=models.CASCADE, related_name="lane_states")
    lane = models.PositiveSmallIntegerField()
    next_range = models.IntegerField(default=0)
    # Ranges below this that are this lane's turn (range mod lanes) are deleted from staging.
    consumed_upto = models.IntegerField(default=0)
    # When this lane last committed a chunk (or was started): beat resumes a lane quiet for too long.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Runs of the lane's current range in a row that ran past their time limit; at
    # BULK_SYNC_CHUNK_OVERRUNS the sync ends in error instead of running it again for ever.
    overruns = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint("sync", "lane", name="sync_lane_unique")]

    def __str__(self) -> str:
        return f"sync {self.sync_id} lane {self.lane} at range {self.next_range}"


class Severity(models.TextChoices):
    INFORMATION = "information"
    WARNING = "warning"
    ERROR = "error"


class SyncLog(models.Model):
    sync = models.ForeignKey(Sync, on_delete=models.CASCADE, related_name="logs")
    severity = models.CharField(max_length=12, choices=Severity.choices)
    status_code = models.CharField(max_length=12)
    message = models.TextField()
    count = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    site_path = "sync__site"
    objects = SiteScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.status_code} {self.message}"


class Reject(models.Model):
    """A staged row a sync refused: the row as uploaded, which fields, which rule."""

    sync = models.ForeignKey(Sync, on_delete=models.CASCADE, related_name="rejects")
    record_index = models.BigIntegerField()
    field_values = models.JSONField()
    invalid_fields = models.JSONField(default=list)
    status_code = models.CharField(max_length=12)
    message = models.TextField()

    site_path = "sync__site"
    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["sync", "record_index"])]

    def __str__(self) -> str:
        return f"row {self.record_index}: {self.status_code}"
