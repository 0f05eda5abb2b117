"""``cxrlab demo``: stage bookkeeping, and the whole pipeline end to end on a tiny configuration."""

from __future__ import annotations

import importlib.util

import pytest
from typer.testing import CliRunner

from cxrlab.cli import build_app
from cxrlab.demo import DemoConfig, DemoState, StageSkipped, _run_stage, clear_own_folder, run_demo, summary
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
    assert [r.status for r in results] == ["ok", "skipped", "skipped", "failed", "failed"]
    assert "not available" in results[2].message and "bad.yaml" in results[3].message
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


def _available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


@pytest.mark.slow
def test_demo_end_to_end_on_tiny_synthetic_data(tmp_path):
    lines: list[str] = []
    state = run_demo(DemoConfig(out=str(tmp_path / "demo"), **TINY), log=lines.append)
    status = {r.name: r for r in state.results}
    assert state.ok, summary(state)
    assert state.synthetic and any("SYNTHETIC" in line for line in lines)
    assert (state.data_root / "SYNTHETIC.txt").exists()
    assert status["data"].status == status["index"].status == status["cache"].status == "ok"
    assert (tmp_path / "demo" / "manifest.csv").exists()
    for stage in state.results:  # a stage is skipped only because its module or its input is missing
        assert stage.status == "ok" or "not available" in stage.message or "needs" in stage.message, stage
    if status["train"].status == "ok":
        assert (state.run_dir / "checkpoints" / "best" / "checkpoint.json").exists()
    if status["evaluate"].status == "ok":
        assert state.report.exists()
    text = summary(state)
    assert "SYNTHETIC" in text and str(state.manifest) in text


@pytest.mark.slow
def test_demo_cli_runs_and_prints_where_things_are(tmp_path):
    out = tmp_path / "cli-demo"
    result = CliRunner().invoke(build_app(), [
        "demo", "--out", str(out), "--per-class", "4", "--size", "32", "--epochs", "1", "--workers", "1",
        "--no-progress", "--scheme", "binary"])
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC" in result.output and str(out / "manifest.csv") in result.output
    assert {p.parent.name for p in (out / "data" / "synthetic-cxr").rglob("synthetic_*.png")} == {"Normal", "COVID"}


def _patient_split(cfg, state, log):
    """Test stand-in for the split stage: every 3rd patient to val, every 3rd+1 to test."""
    from cxrlab.data.manifest import read_manifest, write_manifest

    df = read_manifest(state.manifest)
    patients = {p: i % 3 for i, p in enumerate(sorted(set(df["patient_id"])))}
    df["split"] = [("train", "val", "test")[patients[p]] for p in df["patient_id"]]
    write_manifest(df, state.manifest)
    state.split_done = True
    return "test split by patient"


@pytest.mark.slow
def test_downstream_stages_train_evaluate_export_predict(tmp_path, monkeypatch):
    import cxrlab.demo_stages as stages

    replaced = tuple((name, _patient_split if name == "split" else fn) for name, fn in stages.STAGES if name != "audit")
    monkeypatch.setattr(stages, "STAGES", replaced)
    lines: list[str] = []
    cfg = DemoConfig(out=str(tmp_path / "demo"), **{**TINY, "per_class": 9, "images_per_patient": 1})
    state = run_demo(cfg, log=lines.append)
    status = {r.name: r.status for r in state.results}
    assert [status[n] for n in ("cache", "train", "evaluate", "export", "predict")] == ["ok"] * 5, summary(state)
    rows = (tmp_path / "demo" / "predictions.csv").read_text().splitlines()
    assert len(rows) == 1 + TINY["predict_count"]
    assert state.bundle == tmp_path / "demo" / "model.cxrlab" and state.report.exists()
    assert f"cxrlab serve {state.bundle}" in summary(state)
    assert sum("[labelled " in line for line in lines) == TINY["predict_count"]


@pytest.mark.parametrize("scheme", ["binary", "covid-binary", "3class", "4class"])
def test_synthetic_labels_cover_every_class_of_the_scheme(scheme):
    from cxrlab.cli.demo import _synthetic_labels
    from cxrlab.labels import load_scheme

    loaded = load_scheme(scheme)
    labels = _synthetic_labels(scheme)
    assert sorted(loaded.map(label) for label in labels) == sorted(loaded.classes)
