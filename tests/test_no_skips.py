"""CI runs the suite with CI_NO_SKIPS=1 (.ci/run): a skip there is a failure, listed at the end
with its reason; an expected failure (xfail) stays what it is. Without it a skip is a skip."""

import os
import subprocess
import sys

from tests.conftest import ROOT

DEMO = """
import pytest

def test_skips():
    pytest.skip("not possible here")

@pytest.mark.xfail(strict=True, reason="known")
def test_fails_as_expected():
    assert False

def test_passes():
    pass
"""


def pytest_on(path, **env) -> subprocess.CompletedProcess:
    """pytest on `path` with the suite's skip hooks (tests/noskips.py, which tests/conftest.py
    registers), without its settings and fixtures."""
    environ = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-c", os.devnull, "--rootdir", str(path.parent), "-p", "tests.noskips",
         "-p", "no:cacheprovider", "-p", "no:django", str(path)],
        cwd=ROOT, env={**environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_under_ci_no_skips_a_skip_fails_the_run_and_is_listed_with_its_reason(tmp_path):
    demo = tmp_path / "test_demo.py"
    demo.write_text(DEMO)
    done = pytest_on(demo, CI_NO_SKIPS="1")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "SKIPPED test_demo.py::test_skips: not possible here" in done.stdout
    assert "1 failed, 1 passed, 1 xfailed" in done.stdout


def test_without_it_a_skip_is_a_skip(tmp_path):
    demo = tmp_path / "test_demo.py"
    demo.write_text(DEMO)
    done = pytest_on(demo, CI_NO_SKIPS=None)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 1 skipped, 1 xfailed" in done.stdout
