"""The engines beside PostgreSQL and Redis that the scale tests start for themselves (a private
RabbitMQ node, a private PgBouncer), never the machine's own: a test that cannot start one is
skipped, saying why."""

from __future__ import annotations

import subprocess
import sys

import pytest

from faults.cluster import missing_engine
from tests.conftest import ROOT


def require(engine: str) -> None:
    reason = missing_engine(engine)
    if reason:
        print(f"\nSKIPPED LOUDLY: {engine} cannot be started here: {reason}", file=sys.stderr)
        pytest.skip(f"{engine} cannot be started here: {reason}")


def faults(*argv: str, timeout: float = 300) -> str:
    """`python -m faults --quick ARGV...`: its own PostgreSQL, Redis, gunicorn, worker (and the
    engines ARGV names), the scenarios' checks; returns its output, asserting it held."""
    done = subprocess.run(
        [sys.executable, "-m", "faults", "--quick", *argv], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    print(done.stdout[-6000:], done.stderr[-3000:])
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    return done.stdout


def table_row(output: str, scenario: str) -> list[str]:
    """The cells of the scenario's row in the printed table."""
    line = next(line for line in output.splitlines() if line.startswith(f"{scenario} "))
    return [cell.strip() for cell in line.split("|")]
