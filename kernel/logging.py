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


def bind_log_context(**values) -> None:
    """Add values to the current request's (or task's) context, e.g. the site once authenticated."""
    ctx = _context.get()
    if ctx is not None:
        ctx.update(values)


def start_log_context(**values) -> None:
    """A fresh context for a new request: kept until the next one, so Django's own
    end-of-request log lines (written after the middleware returns) still carry it."""
    _context.set(dict(values))


def install_record_factory() -> None:
    """Every log record carries request_id/site/sync_id, whatever handler formats it."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_bulk_context", False):
        return

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        ctx = _context.get() or {}
        for key in ("request_id", "site", "sync_id"):
            setattr(record, key, ctx.get(key, "-"))
        return record

    factory._bulk_context = True
    logging.setLogRecordFactory(factory)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ctx = _context.get() or {}
        for key in ("request_id", "site", "sync_id"):
            if not hasattr(record, key):
                setattr(record, key, ctx.get(key, "-"))
        return True
