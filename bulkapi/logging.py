"""Request/sync context carried into every log line (one JSON object per line in production)."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager

_context: contextvars.ContextVar[dict | None] = contextvars.ContextVar("log_context", default=None)


@contextmanager
def log_context(**values) -> Iterator[None]:
    token = _context.set({**(_context.get() or {}), **values})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ctx = _context.get() or {}
        for key in ("request_id", "site", "sync_id"):
            if not hasattr(record, key):
                setattr(record, key, ctx.get(key, "-"))
        return True
