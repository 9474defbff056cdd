"""CI_NO_SKIPS=1 (set by .ci/run): a skipped test is a failure, and the skipped tests are listed
with their reasons at the end. A skip means "not possible here", and CI is where everything must be
possible. Hooks registered by tests/conftest.py (no Django here: a plain pytest run can load this
module with `-p tests.noskips`, as tests/test_no_skips.py does)."""

from __future__ import annotations

import os

import pytest

_skipped: list[tuple[str, str]] = []


def _no_skips() -> bool:
    return os.environ.get("CI_NO_SKIPS") == "1"


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _fail_skip(report, nodeid: str) -> None:
    reason = _skip_reason(report)
    _skipped.append((nodeid, reason))
    report.outcome = "failed"
    report.longrepr = f"skipped, and CI_NO_SKIPS=1 forbids skips: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    # An expected failure (xfail) is reported as skipped too; it is no skip.
    if _no_skips() and report.skipped and not hasattr(report, "wasxfail"):
        _fail_skip(report, item.nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if _no_skips() and report.skipped:
        _fail_skip(report, report.nodeid)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _skipped:
        terminalreporter.section("skipped tests (CI_NO_SKIPS=1 makes each a failure)", red=True, bold=True)
        for nodeid, reason in _skipped:
            terminalreporter.line(f"SKIPPED {nodeid}: {reason}", red=True)
