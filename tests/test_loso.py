"""Leave-one-source-out (``cxrlab loso``, ``cxrlab.loso``): folds, one tiny end-to-end run, benchmark rows."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from typer.testing import CliRunner

from cxrlab.cli import build_app
from cxrlab.data.manifest import write_manifest
from cxrlab.data.synthetic.generate import synthetic_film, to_uint8_film
from cxrlab.errors import ConfigError
from cxrlab.labels import load_scheme
from cxrlab.loso.folds import eligible_sources, fold_rows

ROOT = Path(__file__).resolve().parents[1]


def fake_sources(folder: Path | None = None, size: int = 32) -> pd.DataFrame:
    """Four fake sources named like the real ones; copies across sources share a dup_group.

    covid-cxnet: COVID only (2 are copies of pooled COVID films); ieee8023: adults with COVID, Normal,
    pneumonia, Other (1 COVID copied into pooled); kermany-pediatric: children; covid19-radiography-db:
    COVID + Normal, 3 Normals are copies of Kermany children."""
    spec = [("covid-cxnet", "COVID", 8), ("ieee8023-covid-chestxray", "COVID", 6),
            ("ieee8023-covid-chestxray", "Normal", 3), ("ieee8023-covid-chestxray", "Pneumonia-Bacterial", 3),
            ("ieee8023-covid-chestxray", "Other", 2), ("kermany-pediatric", "Normal", 12),
            ("kermany-pediatric", "Pneumonia-Viral", 12), ("covid19-radiography-db", "COVID", 12),
            ("covid19-radiography-db", "Normal", 12)]
    rows = []
    for source, label, n in spec:
        for i in range(n):
            rows.append({"path": f"{source}/{label}/f{i}.png", "label": label, "source": source,
                         "patient_id": "", "dup_group": ""})
    df = pd.DataFrame(rows)

    def link(group, *matches):
        for source, label, i in matches:
            df.loc[(df["source"] == source) & (df["label"] == label) & (df["path"].str.endswith(f"/f{i}.png")),
                   "dup_group"] = group

    link("dup-1", ("covid-cxnet", "COVID", 0), ("covid19-radiography-db", "COVID", 0))
    link("dup-2", ("covid-cxnet", "COVID", 1), ("covid19-radiography-db", "COVID", 1))
    link("dup-3", ("ieee8023-covid-chestxray", "COVID", 0), ("covid19-radiography-db", "COVID", 2))
    for i in range(3):
        link(f"dup-k{i}", ("kermany-pediatric", "Normal", i), ("covid19-radiography-db", "Normal", i))
    if folder is not None:
        for k, row in df.iterrows():
            path = folder / row["path"]
            path.parent.mkdir(parents=True, exist_ok=True)
            film = to_uint8_film(synthetic_film(row["label"], np.random.default_rng(k), size))
            Image.fromarray(film).save(path)
            df.at[k, "path"] = str(path)
    return df


SCHEME = load_scheme("3class")


def test_fold_drops_copies_of_the_held_out_source():
    df = fake_sources()
    rows = fold_rows(df, "covid-cxnet", SCHEME, seed=1)
    external = rows[rows["split"] == "external"]
    assert set(external["source"]) == {"covid-cxnet"} and len(external) == 8
    pooled_covid = rows[(rows["source"] == "covid19-radiography-db") & (rows["label"] == "COVID")]
    assert len(pooled_covid) == 10  # the two copies of cxnet films are gone
    assert set(rows["split"]) == {"train", "val", "test", "external"}
    assert rows.groupby("group")["split"].nunique().max() == 1  # no group on two sides
    # population: Kermany children and their copies in the pooled source
    kids = rows[rows["population"] == "pediatric"]
    assert len(kids) == 24 + 3 and set(kids["source"]) == {"kermany-pediatric", "covid19-radiography-db"}


def test_adult_training_keeps_children_in_the_internal_test():
    rows = fold_rows(fake_sources(), "ieee8023-covid-chestxray", SCHEME, train_population="adult")
    kids = rows[rows["population"] == "pediatric"]
    assert len(kids) > 0 and set(kids["split"]) == {"test"}
    assert len(rows[rows["split"] == "external"]) == 14


def test_unknown_holdout_and_population_are_clear_errors():
    with pytest.raises(ConfigError, match="not in the manifest"):
        fold_rows(fake_sources(), "nowhere", SCHEME)
    with pytest.raises(ConfigError, match="train population"):
        fold_rows(fake_sources(), "covid-cxnet", SCHEME, train_population="kids")
    assert eligible_sources(fake_sources(), min_films=12) == ["covid19-radiography-db", "ieee8023-covid-chestxray",
                                                             "kermany-pediatric"]


@pytest.mark.slow
def test_loso_command_end_to_end_and_rerun_reuses_the_folds(tmp_path):
    df = fake_sources(tmp_path / "data")
    manifest = write_manifest(df, tmp_path / "work" / "manifest.csv")
    out = tmp_path / "loso"
    args = ["loso", "--manifest", str(manifest), "--out", str(out), "--holdout", "covid-cxnet", "--holdout",
            "ieee8023-covid-chestxray", "--size", "32", "--epochs", "1", "--threads", "1", "--no-progress",
            "--model", "cnn-small", "--set", "samples_per_epoch=0",
            "--set", "data.cache_workers=1", "--set", "batch_size=16", "--set", f"data.cache_dir={tmp_path / 'cache'}"]
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    assert "covid-cxnet" in result.output and "report:" in result.output
    summary = json.loads((out / "loso.json").read_text())
    assert set(summary["folds"]) == {"covid-cxnet", "ieee8023-covid-chestxray"}
    ieee = summary["folds"]["ieee8023-covid-chestxray"]
    held = ieee["argmax"]["holdout"]
    assert held["films"] == 14 and held["covid_sensitivity"]["n"] == 6
    assert held["adult_non_covid_called_covid"]["n"] == 8 and held["covid_auroc"]["n_pos"] == 6
    assert len(held["covid_sensitivity"]["ci"]) == 2
    assert 0.0 <= ieee["operating_point"]["covid_threshold"] <= 1.0
    preds = pd.read_csv(out / "ieee8023-covid-chestxray" / "predictions.csv")
    assert set(preds["split"]) == {"val", "test", "external"} and {"p_COVID", "p_Normal", "p_Pneumonia"} <= set(preds)
    html = (out / "report.html").read_text()
    assert "ieee8023-covid-chestxray" in html and "adult non-COVID called COVID" in html and "<img" in html
    weights = out / "covid-cxnet" / "run" / "checkpoints" / "best" / "weights.safetensors"
    before = weights.stat().st_mtime_ns
    again = CliRunner().invoke(build_app(), args)  # finished folds are scored again, not retrained
    assert again.exit_code == 0, again.output
    assert weights.stat().st_mtime_ns == before
    assert json.loads((out / "loso.json").read_text())["folds"]["covid-cxnet"]["argmax"] == \
        summary["folds"]["covid-cxnet"]["argmax"]


def test_bench_loso_rows_under_one_header(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_loso", ROOT / "benchmarks" / "bench_loso.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    part = {"holdout": {"covid_sensitivity": {"value": 0.5, "n": 2}, "adult_non_covid_called_covid": {"value": 0.25, "n": 4}},
            "internal": {"macro_f1": {"value": 0.9}}}
    row = bench.fold_row("v", "r", "h", {"argmax": part, "operating_point": part, "train_minutes": 1.0})
    assert row == "| v | r | h | 0.50 | – | 0.25 | – | – | 0.90 / 0.90 | – | 1.0 |"
    results = tmp_path / "r.md"
    results.write_text("# LOSO\n", encoding="utf-8")
    bench.append_rows(results, [row])
    bench.append_rows(results, [row])
    assert results.read_text().count("| variant |") == 1 and results.read_text().count(row) == 2


def _scores(folder: Path, fold: str, sens: float, op_sens: float, f1: float) -> None:
    (folder / fold).mkdir(parents=True)
    scores = {"covid_sensitivity_unseen": {"value": sens, "n": 10}, "internal_macro_f1": {"value": f1, "n": 50},
              "operating_point": {"covid_sensitivity_unseen": {"value": op_sens, "n": 10}}}
    (folder / fold / "scores.json").write_text(json.dumps(scores))


def test_seed_summary_means_ranges_and_paired_differences(tmp_path):
    spec = importlib.util.spec_from_file_location("loso_seeds", ROOT / "benchmarks" / "loso_seeds.py")
    seeds = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seeds)
    runs = tmp_path / "runs"
    for name, sens in (("base", 0.70), ("base-seed1", 0.80), ("new", 0.75), ("new-seed1", 0.95), ("new-seed2", 0.90)):
        _scores(runs / name, "covid-cxnet", sens, sens + 0.1, 0.9)
    (runs / "newer").mkdir()  # another variant whose name starts like one: not a seed of "new"
    assert sorted(seeds.seed_runs(runs, "new")) == [0, 1, 2]
    table = seeds.main(["--runs", str(runs), "--reference", "base", "base", "new"])
    lines = table.splitlines()
    assert lines[2].startswith("| base | 0, 1 | 0.75 (0.70–0.80) | – |")
    assert lines[3].startswith("| new | 0, 1, 2 | 0.87 (0.75–0.95) | – | 0.97 (0.85–1.05) |")
    # paired on seeds 0 and 1 only: +0.05 and +0.15
    assert "| new | +0.10 (+0.05, +0.15) | – | +0.10 (+0.05, +0.15) |" in table
    preds = pd.DataFrame({"split": ["test"] * 5 + ["val"], "label": ["Normal"] * 4 + ["COVID", "Normal"],
                          "population": ["adult", "unknown", "adult", "pediatric", "adult", "adult"],
                          "pred": ["COVID", "Normal", "Normal", "COVID", "COVID", "COVID"],
                          "pred_operating": ["COVID", "COVID", "Normal", "COVID", "COVID", "COVID"]})
    (runs / "base" / "ieee8023-covid-chestxray").mkdir()
    preds.to_csv(runs / "base" / "ieee8023-covid-chestxray" / "predictions.csv", index=False)
    # 3 non-pediatric Normal test films: 1 called COVID at arg-max, 2 at the operating point
    assert seeds.read_metric(runs / "base", "ieee8023-covid-chestxray", ("predictions", "pred")) == pytest.approx(1 / 3)
    assert seeds.read_metric(runs / "base", "ieee8023-covid-chestxray", ("predictions", "pred_operating")) == \
        pytest.approx(2 / 3)
    with pytest.raises(SystemExit, match="no runs of missing"):
        seeds.main(["--runs", str(runs), "missing"])
