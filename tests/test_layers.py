"""The layer contracts of DEVELOPERS.md hold: import-linter finds no upward import and no circle."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def lint_imports() -> str:
    exe = Path(sys.executable).with_name("lint-imports")
    found = str(exe) if exe.exists() else shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports (import-linter) is not installed: pip install -e '.[test]'")
    return found


def run_lint(config: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([lint_imports(), "--config", str(config), "--no-cache"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_package_keeps_its_layers_and_has_no_import_circle():
    out = run_lint(ROOT / "pyproject.toml")
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "2 kept, 0 broken" in out.stdout


def test_an_upward_import_breaks_the_layers(tmp_path):
    """The contract is real: the same layers with models placed above train are reported broken."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    swapped = text.replace('  "cxrlab.models",\n', "").replace(
        '  "cxrlab.export",\n', '  "cxrlab.export",\n  "cxrlab.models",\n')
    assert swapped != text
    config = tmp_path / "pyproject.toml"
    config.write_text(swapped, encoding="utf-8")
    out = run_lint(config)
    assert out.returncode != 0
    assert "is not allowed to import cxrlab.models" in out.stdout
