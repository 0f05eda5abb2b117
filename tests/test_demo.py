"""``cxrlab demo``: stage bookkeeping, and the whole pipeline end to end on a tiny configuration."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from cxrlab.cli import build_app
from cxrlab.demo.run import _run_stage, run_demo, summary
from cxrlab.demo.state import DemoConfig, DemoState, StageSkipped, clear_own_folder
from cxrlab.data.manifest import read_manifest
from cxrlab.errors import ConfigError

TINY = dict(per_class=8, film_size=48, image_size=32, epochs=1, batch_size=8, n_boot=20, predict_count=2,
            workers=1, progress=False)


def _state(tmp_path) -> DemoState:
    return DemoState(out=tmp_path)


def test_stage_outcomes_are_recorded_not_raised(tmp_path):
    def ok(cfg, state, log):
        return "fine"

    def skipped(cfg, state, log):
        raise StageSkipped("needs X")

    def missing(cfg, state, log):
        import cxrlab.no_such_module  # noqa: F401

    def user_error(cfg, state, log):
        raise ConfigError("bad.yaml: broken")

    def bug(cfg, state, log):
        raise ZeroDivisionError("oops")

    cfg, state, lines = DemoConfig(out=str(tmp_path)), _state(tmp_path), []
    results = [_run_stage(f.__name__, f, cfg, state, lines.append) for f in (ok, skipped, missing, user_error, bug)]
    assert [r.status for r in results] == ["ok", "skipped", "failed", "failed", "failed"]  # a missing module is a bug
    assert "ModuleNotFoundError" in results[2].message and "bad.yaml" in results[3].message
    assert "ZeroDivisionError" in (tmp_path / "demo-errors.log").read_text()
    assert any("[bug] failed" in line for line in lines)


def test_clear_own_folder_never_removes_foreign_folders(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(ConfigError, match="not made by cxrlab demo"):
        clear_own_folder(foreign, "SYNTHETIC.txt")
    assert (foreign / "thesis.tex").exists()
    (foreign / "SYNTHETIC.txt").write_text("x")
    clear_own_folder(foreign, "SYNTHETIC.txt")
    assert not foreign.exists()


def test_missing_data_folder_is_reported(tmp_path):
    state = run_demo(DemoConfig(out=str(tmp_path / "out"), data=str(tmp_path / "nope"), **TINY), log=lambda m: None)
    first = state.results[0]
    assert first.name == "data" and first.status == "skipped" and "not found" in first.message
    assert all(r.status == "skipped" for r in state.results[1:])


@pytest.mark.slow
def test_demo_end_to_end_on_tiny_synthetic_data(tmp_path):
    lines: list[str] = []
    state = run_demo(DemoConfig(out=str(tmp_path / "demo"), **TINY), log=lines.append)
    assert [r.status for r in state.results] == ["ok"] * len(state.results), summary(state)
    assert state.synthetic and any("SYNTHETIC" in line for line in lines)
    assert (state.data_root / "SYNTHETIC.txt").exists()
    out = tmp_path / "demo"
    df = read_manifest(out / "manifest.csv")
    assert {"dup_group", "group", "split"} <= set(df.columns) and set(df["split"]) <= {"train", "val", "test"}
    assert state.audit == out / "audit" and (state.audit / "summary.json").exists()
    assert state.eda == out / "eda.html" and "<html" in state.eda.read_text(encoding="utf-8").lower()
    assert (state.run_dir / "checkpoints" / "best" / "checkpoint.json").exists() and state.report.exists()
    assert state.bundle == out / "model.cxrlab" and state.bundle.exists()
    rows = (out / "predictions.csv").read_text().splitlines()
    assert len(rows) == 1 + TINY["predict_count"]
    assert sum("[labelled " in line for line in lines) == TINY["predict_count"]
    text = summary(state)
    assert "SYNTHETIC" in text and f"cxrlab serve {state.bundle}" in text and state.report.as_uri() in text


def test_demo_cli_passes_options_and_prints_where_things_are(tmp_path, monkeypatch):
    import cxrlab.demo.stages as stages

    monkeypatch.setattr(stages, "STAGES", stages.STAGES[:2])  # data + index: the CLI wiring, not the pipeline
    out = tmp_path / "cli-demo"
    result = CliRunner().invoke(build_app(), [
        "demo", "--out", str(out), "--per-class", "4", "--size", "32", "--epochs", "1", "--workers", "1",
        "--no-progress", "--scheme", "binary"])
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC" in result.output and str(out / "manifest.csv") in result.output
    films = list((out / "data" / "synthetic-cxr").rglob("synthetic_*.png"))
    assert len(films) == 8 and {p.parent.name for p in films} == {"Normal", "COVID"}


def test_demo_cli_exit_code_is_1_when_a_stage_fails(tmp_path, monkeypatch):
    import cxrlab.demo.stages as stages

    def broken(cfg, state, log):
        raise ConfigError("broken.yaml: bad")

    monkeypatch.setattr(stages, "STAGES", (("data", broken),))
    result = CliRunner().invoke(build_app(), ["demo", "--out", str(tmp_path / "x"), "--no-progress"])
    assert result.exit_code == 1 and "broken.yaml: bad" in result.output


@pytest.mark.parametrize("scheme", ["binary", "covid-binary", "3class", "4class"])
def test_synthetic_labels_cover_every_class_of_the_scheme(scheme):
    from cxrlab.cli.demo import _synthetic_labels
    from cxrlab.labels import load_scheme

    loaded = load_scheme(scheme)
    labels = _synthetic_labels(scheme)
    assert sorted(loaded.map(label) for label in labels) == sorted(loaded.classes)


def test_data_option_uses_the_folder_and_caps_images_per_label(tmp_path, monkeypatch):
    import cxrlab.demo.stages as stages
    from cxrlab.data.synthetic.generate import make_synthetic_dataset

    data = make_synthetic_dataset(tmp_path / "real", labels=("COVID", "Normal"), per_class=7, size=48)
    monkeypatch.setattr(stages, "STAGES", stages.STAGES[:2])
    cfg = DemoConfig(out=str(tmp_path / "out"), data=str(data), **{**TINY, "max_per_class": 5})
    state = run_demo(cfg, log=lambda m: None)
    assert [r.status for r in state.results] == ["ok", "ok"] and not state.synthetic
    assert not (tmp_path / "out" / "data").exists()
    assert read_manifest(state.manifest)["label"].value_counts().to_dict() == {"COVID": 5, "Normal": 5}


def test_demo_writes_where_the_other_commands_look(tmp_path, monkeypatch):
    import cxrlab.demo.stages as stages
    from cxrlab.cli.common import DEFAULT_MANIFEST, DEFAULT_WORKDIR

    assert DemoConfig().out == str(DEFAULT_WORKDIR)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(stages, "STAGES", stages.STAGES[:2])  # data + index
    result = CliRunner().invoke(build_app(), ["demo", "--per-class", "4", "--workers", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / DEFAULT_MANIFEST).exists() and (tmp_path / DEFAULT_WORKDIR / "DEMO.txt").exists()
    eda = CliRunner().invoke(build_app(), ["eda"])  # no options: it finds the demo's manifest
    assert eda.exit_code == 0, eda.output
    assert (tmp_path / DEFAULT_WORKDIR / "eda.html").exists()
    again = CliRunner().invoke(build_app(), ["demo", "--per-class", "4", "--workers", "1", "--no-progress"])
    assert again.exit_code == 0, again.output  # its own folder: re-running is fine


def test_demo_never_overwrites_a_manifest_it_did_not_write(tmp_path, monkeypatch):
    import os
    import time

    import cxrlab.demo.stages as stages

    monkeypatch.setattr(stages, "STAGES", stages.STAGES[:2])
    out = tmp_path / "work"
    out.mkdir()
    (out / "manifest.csv").write_text("path,label,source\nmine.png,COVID,real\n")
    with pytest.raises(ConfigError, match="not written by cxrlab demo"):
        run_demo(DemoConfig(out=str(out), **TINY), log=lambda m: None)
    assert "mine.png" in (out / "manifest.csv").read_text()
    run_demo(DemoConfig(out=str(out / "d"), **TINY), log=lambda m: None)
    later = time.time() + 60
    os.utime(out / "d" / "manifest.csv", (later, later))  # re-indexed by the user after the demo
    with pytest.raises(ConfigError, match="not written by cxrlab demo"):
        run_demo(DemoConfig(out=str(out / "d"), **TINY), log=lambda m: None)
