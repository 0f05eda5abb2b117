"""The ``cxrlab eda`` and ``cxrlab cache`` commands, end to end on a tiny generated manifest."""

from __future__ import annotations

import pytest

from cxrlab.cli import main
from cxrlab.data.manifest import write_manifest
from test_eda import _manifest


def run(*args: str) -> int:
    """Run the CLI in-process; return its exit code."""
    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_manifest(_manifest(tmp_path / "data", per_class=2), tmp_path / "cxrlab-out" / "manifest.csv")
    return tmp_path


def test_eda_command_writes_report_with_audit(workdir, capsys):
    (workdir / "cxrlab-out" / "audit").mkdir()
    (workdir / "cxrlab-out" / "audit" / "summary.json").write_text('{"label_conflicts": 3}', encoding="utf-8")
    assert run("eda", "--samples", "1") == 0
    report = workdir / "cxrlab-out" / "eda.html"
    assert report.exists() and "label conflicts" in report.read_text(encoding="utf-8")
    assert "eda.html" in capsys.readouterr().out


def test_cache_command_builds_then_reuses(workdir, capsys):
    assert run("cache", "--size", "32", "--workers", "1", "--no-progress") == 0
    first = capsys.readouterr().out
    assert "decoded 8, reused 0" in first
    assert run("cache", "--size", "32", "--no-progress") == 0
    assert "decoded 0, reused 8" in capsys.readouterr().out
    assert len(list((workdir / "cxrlab-out" / "cache" / "s32-stretch-none").glob("*.npy"))) == 1


def test_bad_option_is_a_plain_error(workdir, capsys):
    assert run("cache", "--resize", "sideways", "--no-progress") == 2
    assert "resize" in capsys.readouterr().err
