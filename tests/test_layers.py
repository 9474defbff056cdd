"""The layers contract (.importlinter) holds: kernel < pipeline < entities < doors < ops/config, with
lazy imports counted, and no exception listed. `make lint` runs the same check; CI runs this test."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_layers_contract_is_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_contract_lists_every_layer_and_no_exception():
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    layers = config["importlinter:contract:layers"]["layers"].split()
    assert layers == ["config", "ops", "doors", "entities", "pipeline", "kernel"]
    for section in config.sections():
        assert "ignore_imports" not in config[section], section
        assert "unmatched_ignore_imports_alerting" not in config[section], section
    top = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()} - {"tests", "bench", "faults"}
    assert top == set(layers), "every application package is in a layer"


def test_a_violation_is_caught(tmp_path):
    """The check can fail: a kernel module importing the pipeline breaks it."""
    probe = ROOT / "kernel" / "_layers_probe.py"
    probe.write_text("import pipeline.models  # noqa: F401\n")
    try:
        lint = Path(sys.executable).with_name("lint-imports")
        result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    finally:
        probe.unlink()
    assert result.returncode != 0
    assert "kernel._layers_probe -> pipeline.models" in result.stdout
