"""Which set-based chunk processor runs a sync, by the definition's entity.

Each importing app registers its processor in `AppConfig.ready()`; the sync machinery (snapshot,
ranges, lanes, counters, logs, callbacks) is the same for every entity. A processor gets `source`,
a SQL subquery of the chunk's staged rows `(sid, rec, data)`, and writes them in the caller's
transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from psycopg import sql

from kernel.db import Value


@dataclass
class ChunkResult:
    """Rows of a chunk by outcome: every processed row is exactly one of rejected, created, updated.
    `extra` holds an entity's own counters (linkage: `links`, the links created)."""

    processed: int
    rejected: int
    created: int
    updated: int
    extra: dict[str, int] = field(default_factory=dict)

    def __add__(self, other: ChunkResult) -> ChunkResult:
        extra = dict(self.extra)
        for key, value in other.extra.items():
            extra[key] = extra.get(key, 0) + value
        return ChunkResult(
            self.processed + other.processed,
            self.rejected + other.rejected,
            self.created + other.created,
            self.updated + other.updated,
            extra,
        )


class ConcurrentWrite(Exception):  # noqa: N818 - a condition, not a failure
    """Another transaction committed a record this chunk was about to create (a unique key taken
    between the chunk's judging and its INSERT): the chunk rolls back and runs again, and then
    matches that record."""


# (cursor, *, sync_id, site_id, definition, mappings, source) -> ChunkResult
Processor = Callable[..., ChunkResult]
# (definition, mappings) -> SQL over the staged row `s.data` naming the record a row writes, or None
# when rows of one chunk may touch shared records (then the sync runs in a single lane).
LaneKey = Callable[..., sql.Composable | None]
# (sync) -> list[SyncLog]: an entity's own summary logs, written by `_finish` with the common ones.
FinishLogs = Callable[..., list]


@dataclass(frozen=True)
class Registration:
    processor: Processor
    finish_logs: FinishLogs | None = None
    lane_key: LaneKey | None = None
    # Tables the processor fills, analysed when a laned sync's first range is done.
    writes: tuple[str, ...] = ()
    # The table whose records carry `last_sync_id`, so a dry run can tell created from updated.
    records: str | None = None


_REGISTRY: dict[str, Registration] = {}
_STATISTICS: dict[str, tuple[str, ...]] = {}


def register_statistics(table: str, columns: tuple[str, ...]) -> None:
    """A table syncs write or match against, and the columns its chunk plans find rows by: the
    pipeline refreshes their statistics (and only these columns') when a sync has just filled it
    (pipeline.services.run). Registered by the entity that owns the table."""
    _STATISTICS[table] = columns


def statistics_tables() -> dict[str, tuple[str, ...]]:
    return dict(_STATISTICS)


# (sync) -> None: run by `finish` inside the transaction that ends a sync, after its status is
# written; another door chains its own step to the end of a sync it started (doors.capillary: the
# success file's row map, then the sync that links the rows' contacts), committed with that end.
EndHook = Callable[..., None]
_END_HOOKS: list[EndHook] = []


def register_end_hook(hook: EndHook) -> None:
    if hook not in _END_HOOKS:
        _END_HOOKS.append(hook)


def end_hooks() -> tuple[EndHook, ...]:
    return tuple(_END_HOOKS)


# (sync_ids) -> None: run by the history purge (pipeline.services.history) inside the transaction
# that deletes those ended syncs, before it does; another door deletes what it keeps for them
# (doors.batch: the jobs, with their stored files and row maps).
HistoryHook = Callable[..., None]
_HISTORY_HOOKS: list[HistoryHook] = []


def register_history_hook(hook: HistoryHook) -> None:
    if hook not in _HISTORY_HOOKS:
        _HISTORY_HOOKS.append(hook)


def history_hooks() -> tuple[HistoryHook, ...]:
    return tuple(_HISTORY_HOOKS)


def register_processor(
    entity: str,
    processor: Processor,
    finish_logs: FinishLogs | None = None,
    lane_key: LaneKey | None = None,
    writes: tuple[str, ...] = (),
    records: str | None = None,
) -> None:
    _REGISTRY[entity] = Registration(processor, finish_logs, lane_key, writes, records)


def registration_for(entity: str) -> Registration:
    try:
        return _REGISTRY[entity]
    except KeyError:
        raise NotImplementedError(f"syncs of {entity} imports are not supported") from None


def finish_logs_for(entity: str) -> FinishLogs | None:
    registration = _REGISTRY.get(entity)
    return registration.finish_logs if registration else None


def lane_key_for(entity: str, definition, mappings) -> sql.Composable | None:
    registration = _REGISTRY.get(entity)
    if registration is None or registration.lane_key is None:
        return None
    return registration.lane_key(definition, mappings)


def staged_chunk(
    *,
    definition_id: int,
    lo: int,
    hi: int,
    base: int,
    lane: int = 0,
    lanes: int = 1,
    lane_key=None,
    offset: int | None = None,
    bounds: list[str] | None = None,
    progress: str | None = None,
) -> sql.Composable:
    """`(sid, rec, data)` of the definition's staged rows with lo < id <= hi that fall in `lane`.

    `rec` is the row's 1-based record index over the whole sync: `base` (rows of earlier ranges)
    plus its position in the range, counted over every lane's rows so each lane agrees on it; or,
    when the snapshot's ids are contiguous (`offset` given), its id minus `offset`, which is the same
    number without counting the range.

    A row's lane is decided by its `lane_key` (a row without one counts as ''): with `bounds`, lane
    i takes the keys from bounds[i-1] (inclusive) to bounds[i] in C collation; without, a slice of
    the key's hash.

    With `progress` (a label, `bulk-sync:<sync>:<lane>:`), every PROGRESS_TICK_ROWS rows read report
    how many so far (`bulk_progress`, migration syncs 0006), for `GET /syncs/{id}` to show while
    the chunk's transaction is still open."""
    if offset is not None:
        numbered = sql.SQL("s.id - {}::bigint").format(Value(offset))
    else:
        numbered = sql.SQL("{}::bigint + row_number() OVER (ORDER BY s.id)").format(Value(base))
    rows = sql.SQL(
        "SELECT s.id AS sid, {numbered} AS rec, s.data{key}"
        " FROM bulkapi_stagedrow s WHERE s.definition_id = {definition} AND s.id > {lo} AND s.id <= {hi}"
    )
    params = {"numbered": numbered, "definition": Value(definition_id), "lo": Value(lo), "hi": Value(hi)}
    if lanes <= 1 or lane_key is None:
        return _ticking(sql.SQL("({})").format(rows.format(key=sql.SQL(""), **params)), progress)
    if bounds is not None:
        value = sql.SQL("(COALESCE(q.lane_key, '') COLLATE \"C\")")
        low = bounds[lane - 1] if lane > 0 else None
        high = bounds[lane] if lane < lanes - 1 else None
    else:
        # The lane is a slice of the 31-bit hash.
        step = (2**31 + lanes - 1) // lanes
        value = sql.SQL("(hashtext(COALESCE(q.lane_key, '')) & 2147483647)")
        low = lane * step if lane > 0 else None
        high = (lane + 1) * step if lane < lanes - 1 else None
    # Written as `v >= low AND NOT (v >= high)`, not as a range (nor `mod(h, n) = k`): the planner
    # then guesses a third of the range's rows, not 0.5 %, and a statement joining the chunk to
    # itself (linkage) keeps to hash and index joins. One 50,000-row linkage chunk planned on the
    # 0.5 % guess ran nested loops over its own rows for minutes. The bounds are the client's own
    # identifiers: parameters, never SQL text.
    conditions = []
    if low is not None:
        conditions.append(sql.SQL("{} >= {}").format(value, Value(low)))
    if high is not None:
        conditions.append(sql.SQL("NOT ({} >= {})").format(value, Value(high)))
    chunk = sql.SQL("(SELECT q.sid, q.rec, q.data FROM ({rows}) q WHERE {conditions})").format(
        rows=rows.format(key=sql.SQL(", {} AS lane_key").format(lane_key), **params),
        conditions=sql.SQL(" AND ").join(conditions),
    )
    return _ticking(chunk, progress)


def update_matched(cursor, update: sql.Composable, params: dict, *, multiple: bool) -> int:
    """Run a chunk's `UPDATE ... FROM _rows r WHERE r.code IS NULL AND r.match_id IS NOT NULL ...`
    and count the rows it applied, not the records (with `multiple`, one row may update several).

    Every such row matched a record when the chunk was judged; if fewer were applied, another
    writer deleted (or re-keyed) a matched record since, and the row would be neither stored nor
    rejected: ConcurrentWrite, so the chunk runs again and judges that row anew."""
    if multiple:
        cursor.execute(
            sql.SQL("WITH u AS ({} RETURNING r.sid) SELECT count(DISTINCT sid) FROM u").format(update), params
        )
        updated = cursor.fetchone()[0]
    else:
        cursor.execute(update, params)
        updated = cursor.rowcount
    cursor.execute("SELECT count(*) FROM _rows WHERE code IS NULL AND match_id IS NOT NULL")
    if cursor.fetchone()[0] != updated:
        raise ConcurrentWrite("a record the chunk matched was deleted or re-keyed by another writer meanwhile")
    return updated


# A running chunk reports its rows this often (see `staged_chunk`'s `progress`).
PROGRESS_TICK_ROWS = 1000


def _ticking(chunk: sql.Composable, progress: str | None) -> sql.Composable:
    """`chunk` that reports its rows as they are read; the report is an output column nobody reads
    (a volatile expression is still evaluated per row, and, unlike a WHERE clause, leaves the
    planner's row estimates alone)."""
    if progress is None:
        return chunk
    return sql.SQL(
        "(SELECT t.sid, t.rec, t.data, CASE WHEN mod(t.n, {every}) = 0 THEN bulk_progress({label}, t.n) END AS tick"
        " FROM (SELECT c.sid, c.rec, c.data, row_number() OVER () AS n FROM {chunk} c) t)"
    ).format(every=Value(PROGRESS_TICK_ROWS), label=Value(progress), chunk=chunk)


def lane_bounds_sample(cursor, *, definition_id: int, first: int, last: int, lane_key, lanes: int) -> list[str] | None:
    """Where lanes 1..lanes-1 start in the lane keys of the staged rows with ids first..last:
    quantiles of the keys of up to LANE_SAMPLE rows at evenly spaced ids (a few thousand index
    probes, whatever the snapshot's size). None when fewer than 20 rows per lane were found (ids
    of other definitions in between): the lanes then go by hash.

    Key ranges, not hashes, because lanes then write apart: in a file sorted by identifier (CRM
    exports usually are) each lane appends to its own stretch of every identifier index. With
    hashed lanes, the second lane through a range inserted between the first one's keys, splitting
    full index pages, and its INSERTs took a third longer."""
    step = max(1, (last - first) // LANE_SAMPLE)
    cursor.execute(
        sql.SQL(
            "SELECT count(*), percentile_disc({fractions}::float8[]) WITHIN GROUP (ORDER BY COALESCE(k, '') COLLATE \"C\")"
            " FROM (SELECT {key} AS k FROM generate_series({first}::bigint, {last}::bigint, {step}::bigint) g(id)"
            " JOIN bulkapi_stagedrow s ON s.definition_id = {definition} AND s.id = g.id) q"
        ).format(
            key=lane_key,
            fractions=Value([i / lanes for i in range(1, lanes)]),
            first=Value(first),
            last=Value(last),
            step=Value(step),
            definition=Value(definition_id),
        )
    )
    found, bounds = cursor.fetchone()
    if found < 20 * lanes:
        return None
    return list(bounds)


# Rows sampled at snapshot time to cut the lane keys into lanes.
LANE_SAMPLE = 4000


def staged_key(key: str) -> sql.Composable:
    """A lane key: the staged value of definition key `key`, trimmed and lower-cased (identifiers
    that differ only in case share a lane, whatever the definition's case sensitivity)."""
    return sql.SQL("lower(btrim(s.data ->> {}))").format(Value(key))
