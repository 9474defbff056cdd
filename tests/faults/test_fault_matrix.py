"""The fault matrix in its reduced form (`make faults` runs it at full size): real processes, real
faults mid-sync, every row stored exactly once or rejected with its reason."""

import subprocess
import sys

from tests.conftest import ROOT


def test_every_fault_of_the_matrix_loses_and_duplicates_nothing():
    done = subprocess.run(
        [sys.executable, "-m", "faults", "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    print(done.stdout[-6000:], done.stderr[-3000:])
    assert done.returncode == 0, done.stdout[-6000:]
    assert "checker self-test: a deleted row and a duplicated row are both caught" in done.stdout
