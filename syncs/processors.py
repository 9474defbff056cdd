"""Which set-based chunk processor runs a sync, by the definition's entity.

Each importing app registers its processor in `AppConfig.ready()`; the sync machinery (snapshot,
chunking, watermark, counters, logs, callbacks) is the same for every entity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class ChunkResult:
    processed: int
    rejected: int
    created: int
    updated: int


# (cursor, *, sync_id, site_id, definition, mappings, lo, hi, index_base) -> ChunkResult
Processor = Callable[..., ChunkResult]
_PROCESSORS: dict[str, Processor] = {}
# (sync) -> list[SyncLog]: an entity's own summary logs, written by `_finish` with the common ones.
FinishLogs = Callable[..., list]
_FINISH_LOGS: dict[str, FinishLogs] = {}


def register_processor(entity: str, processor: Processor, finish_logs: FinishLogs | None = None) -> None:
    _PROCESSORS[entity] = processor
    if finish_logs is not None:
        _FINISH_LOGS[entity] = finish_logs


def finish_logs_for(entity: str) -> FinishLogs | None:
    return _FINISH_LOGS.get(entity)


def processor_for(entity: str) -> Processor:
    try:
        return _PROCESSORS[entity]
    except KeyError:
        raise NotImplementedError(f"syncs of {entity} imports are not supported") from None
