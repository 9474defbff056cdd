"""Syncs: one run of an import definition's staged rows, its logs and its rejected rows."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models

from kernel.models import ImportDefinition, Site
from kernel.querysets import SiteScopedQuerySet


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
