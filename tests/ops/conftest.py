"""The `make run` tests own this checkout's .run/env while they run (make run writes it, the
runenv tests write and remove it). A stale file (its make run killed) is removed; only a live
`make run` of this checkout (its run.sh still running) makes them skip, saying so loudly."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from config.runenv import RUN_ENV, run_env_read


def live_make_run_or_clear(path: Path = RUN_ENV) -> str | None:
    """Why the .run/env tests cannot run here (a live `make run` of this checkout owns .run/env),
    or None, after removing a stale .run/env a killed make run left behind."""
    run = run_env_read(path)
    if run is None:
        return None
    if run.running:
        port = run.values.get("PORT", "?")
        return (
            f"a live `make run` of this checkout (run.sh pid {run.pid}, port {port}) owns {path}:"
            " stop it (Ctrl-C) and run these tests again"
        )
    print(f"\nremoving a stale {path} (its make run, pid {run.pid}, is not running)", file=sys.stderr)
    path.unlink(missing_ok=True)
    return None


@pytest.fixture
def no_live_make_run():
    reason = live_make_run_or_clear()
    if reason:
        print(f"\nSKIPPED LOUDLY: {reason}", file=sys.stderr)
        pytest.skip(reason)
    yield
    RUN_ENV.unlink(missing_ok=True)
