"""scripts/ensure-chromium.sh (run by `make test` first): Chromium missing and not installable is an
error that stops `make test`, unless ALLOW_NO_BROWSER=1 lets the run go on without the browser
tests (they then skip, loudly)."""

import subprocess
import sys

from tests.conftest import ROOT


def ensure(tmp_path, **env) -> subprocess.CompletedProcess:
    """The script with no apt-get on its PATH (so it cannot install anything)."""
    bare = tmp_path / "bin"
    bare.mkdir(exist_ok=True)
    return subprocess.run(
        ["/bin/bash", "scripts/ensure-chromium.sh"], cwd=ROOT, env={"PATH": str(bare), **env},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_a_missing_chromium_that_cannot_be_installed_fails(tmp_path):
    done = ensure(tmp_path, CHROMIUM=str(tmp_path / "chromium"))
    assert done.returncode == 1
    assert "is missing (apt-get is not available)" in done.stderr and "ALLOW_NO_BROWSER=1" in done.stderr


def test_allow_no_browser_goes_on_without_it_saying_so(tmp_path):
    done = ensure(tmp_path, CHROMIUM=str(tmp_path / "chromium"), ALLOW_NO_BROWSER="1")
    assert done.returncode == 0
    assert "the browser tests will be SKIPPED" in done.stderr


def test_a_chromium_that_is_there_is_used(tmp_path):
    done = ensure(tmp_path, CHROMIUM=sys.executable)
    assert (done.returncode, done.stderr) == (0, "")
