"""Which set-based chunk processor runs a sync, by the definition's entity.

Each importing app registers its processor in `AppConfig.ready()`; the sync machinery (snapshot,
ranges, lanes, counters, logs, callbacks) is the same for every entity. A processor gets `source`,
a SQL subquery of the chunk's staged rows `(sid, rec, data)`, and writes them in the caller's
transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from psycopg import sql


@dataclass
class ChunkResult:
    processed: int
    rejected: int
    created: int
    updated: int


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


_REGISTRY: dict[str, Registration] = {}


def register_processor(
    entity: str, processor: Processor, finish_logs: FinishLogs | None = None, lane_key: LaneKey | None = None
) -> None:
    _REGISTRY[entity] = Registration(processor, finish_logs, lane_key)


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
) -> sql.Composable:
    """`(sid, rec, data)` of the definition's staged rows with lo < id <= hi that fall in `lane`.

    `rec` is the row's 1-based record index over the whole sync: `base` (rows of earlier ranges)
    plus its position in the range, counted over every lane's rows so each lane agrees on it; or,
    when the snapshot's ids are contiguous (`offset` given), its id minus `offset`, which is the same
    number without counting the range. A lane is a hash of `lane_key` (rows without a key go to
    lane 0)."""
    if offset is not None:
        numbered = sql.SQL("s.id - {}::bigint").format(sql.Literal(offset))
    else:
        numbered = sql.SQL("{}::bigint + row_number() OVER (ORDER BY s.id)").format(sql.Literal(base))
    rows = sql.SQL(
        "SELECT s.id AS sid, {numbered} AS rec, s.data{key}"
        " FROM bulkapi_stagedrow s WHERE s.definition_id = {definition} AND s.id > {lo} AND s.id <= {hi}"
    )
    params = {"numbered": numbered, "definition": sql.Literal(definition_id), "lo": sql.Literal(lo)}
    params["hi"] = sql.Literal(hi)
    if lanes <= 1 or lane_key is None:
        return sql.SQL("({})").format(rows.format(key=sql.SQL(""), **params))
    # The lane is a slice of the 31-bit hash, written as inequalities (not `mod(h, n) = k`): the
    # planner then guesses a third of the range's rows, not 0.5 %, and a statement joining the chunk
    # to itself (linkage) keeps to hash and index joins. One 50,000-row linkage chunk planned on the
    # 0.5 % guess ran nested loops over its own rows for minutes.
    step = (2**31 + lanes - 1) // lanes
    hashed = sql.SQL("(hashtext(COALESCE(q.lane_key, '')) & 2147483647)")
    bounds = []
    if lane > 0:
        bounds.append(sql.SQL("{} >= {}").format(hashed, sql.Literal(lane * step)))
    if lane < lanes - 1:
        bounds.append(sql.SQL("NOT ({} >= {})").format(hashed, sql.Literal((lane + 1) * step)))
    return sql.SQL("(SELECT q.sid, q.rec, q.data FROM ({rows}) q WHERE {bounds})").format(
        rows=rows.format(key=sql.SQL(", {} AS lane_key").format(lane_key), **params),
        bounds=sql.SQL(" AND ").join(bounds),
    )


def staged_key(key: str) -> sql.Composable:
    """A lane key: the staged value of definition key `key`, trimmed and lower-cased (identifiers
    that differ only in case share a lane, whatever the definition's case sensitivity)."""
    return sql.SQL("lower(btrim(s.data ->> {}))").format(sql.Literal(key))
