"""benchmarks/bench_loso.py: fold construction, scoring, and one tiny end-to-end run (synthetic films)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cxrlab.data.manifest import write_manifest
from cxrlab.data.synthetic import synthetic_film, to_uint8_film

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def loso():
    spec = importlib.util.spec_from_file_location("bench_loso", ROOT / "benchmarks" / "bench_loso.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def test_fold_drops_copies_of_the_held_out_source(loso):
    df = fake_sources()
    rows = loso.fold_rows(df, "covid-cxnet", seed=1)
    external = rows[rows["split"] == "external"]
    assert set(external["source"]) == {"covid-cxnet"} and len(external) == 8
    pooled_covid = rows[(rows["source"] == "covid19-radiography-db") & (rows["label"] == "COVID")]
    assert len(pooled_covid) == 10  # the two copies of cxnet films are gone
    assert set(rows["split"]) == {"train", "val", "test", "external"}
    assert rows.groupby("group")["split"].nunique().max() == 1  # no group on two sides
    # population: Kermany children and their copies in the pooled source
    kids = rows[rows["population"] == "pediatric"]
    assert len(kids) == 24 + 3 and set(kids["source"]) == {"kermany-pediatric", "covid19-radiography-db"}


def test_adult_training_keeps_children_in_the_internal_test(loso):
    rows = loso.fold_rows(fake_sources(), "ieee8023-covid-chestxray", train_population="adult")
    kids = rows[rows["population"] == "pediatric"]
    assert len(kids) > 0 and set(kids["split"]) == {"test"}
    assert len(rows[rows["split"] == "external"]) == 14


def test_score_fold_counts(loso):
    rows = pd.DataFrame({
        "source": ["ieee8023-covid-chestxray"] * 6 + ["kermany-pediatric"] * 3 + ["covid19-radiography-db"],
        "label": ["COVID", "COVID", "Normal", "Pneumonia-Viral", "Other", "Pneumonia"] + ["Normal"] * 3 + ["COVID"],
        "population": ["unknown"] * 6 + ["pediatric"] * 3 + ["unknown"],
        "split": ["external"] * 6 + ["test"] * 4,
        "pred": ["COVID", "Normal", "COVID", "Pneumonia", "COVID", "Normal", "Pneumonia", "Normal", "", "COVID"],
    })
    s = loso.score_fold(rows, "ieee8023-covid-chestxray")
    assert s["covid_sensitivity_unseen"] == {"value": 0.5, "n": 2}
    assert s["ieee_non_covid_called_covid"] == {"value": 0.5, "n": 4}  # Normal and Other called COVID
    assert s["ieee_pneumonia_recall"] == {"value": 0.5, "n": 2}
    assert s["pediatric_normal_called_pneumonia"] == {"value": 0.5, "n": 2}  # unreadable film left out
    assert s["internal_macro_f1"]["n"] == 3
    row = loso.table_row("v", "", {"ieee8023-covid-chestxray": {**s, "minutes": 1.0}})
    assert row.startswith("| v | defaults | – | 0.50 | 0.50 | 0.50 | 0.50 |")
    assert row.endswith("| – | – / – | – | 1.0 |")  # no feature probe or operating point in these scores


@pytest.mark.slow
def test_end_to_end_tiny_run(loso, tmp_path):
    df = fake_sources(tmp_path / "data")
    manifest = write_manifest(df, tmp_path / "work" / "manifest.csv")
    results = tmp_path / "results.md"
    results.write_text("# LOSO\n\nnotes\n", encoding="utf-8")
    args = ["--manifest", str(manifest), "--out", str(tmp_path / "loso"), "--cache", str(tmp_path / "cache"),
            "--results", str(results), "--size", "32", "--epochs", "1", "--threads", "1", "--no-progress",
            "--variant", "tiny", "--set", "data.cache_workers=1", "--set", "batch_size=16"]
    row = loso.main(args)
    assert row.startswith("| tiny | cnn-small 32px")
    text = results.read_text(encoding="utf-8")
    assert text.startswith("# LOSO") and text.count("| variant |") == 1 and text.rstrip().endswith(row)
    for holdout in loso.HOLDOUTS:
        scores = json.loads((tmp_path / "loso" / "tiny" / holdout / "scores.json").read_text())
        assert scores["covid_sensitivity_unseen"]["n"] == (8 if holdout == "covid-cxnet" else 6)
        assert 0.0 <= scores["internal_macro_f1"]["value"] <= 1.0
        preds = pd.read_csv(tmp_path / "loso" / "tiny" / holdout / "predictions.csv")
        assert set(preds["pred"]) <= {"COVID", "Normal", "Pneumonia"}
    assert json.loads((tmp_path / "loso" / "tiny" / loso.IEEE / "scores.json").read_text())[
        "ieee_non_covid_called_covid"]["n"] == 8
    scores = json.loads((tmp_path / "loso" / "tiny" / loso.IEEE / "scores.json").read_text())
    assert {"probe_source_all", "probe_source_normal", "probe_pediatric_normal"} <= set(scores)
    probe = scores["probe_source_all"]["value"]  # NaN here: too few test films per source for a 5-fold probe
    assert probe != probe or 0.0 <= probe <= 1.0
    op = scores["operating_point"]
    assert 0.0 <= op["covid_threshold"] <= 1.0 and op["covid_sensitivity_unseen"]["n"] == 6
    preds = pd.read_csv(tmp_path / "loso" / "tiny" / loso.IEEE / "predictions.csv")
    assert set(preds["split"]) == {"val", "test", "external"} and preds["pred_operating"].notna().all()
    loso.main(args + ["--reuse-runs"])  # scores the same runs again, trains nothing
    assert len(list((tmp_path / "loso" / "tiny" / loso.IEEE).glob("run-*"))) == 1
    again = json.loads((tmp_path / "loso" / "tiny" / loso.IEEE / "scores.json").read_text())
    assert again["minutes"] == scores["minutes"] and again["internal_macro_f1"] == scores["internal_macro_f1"]
    loso.main(args[:-4] + ["--variant", "second", "--holdout", loso.IEEE])  # appends under the same header
    assert results.read_text(encoding="utf-8").count("| variant |") == 1


def test_operating_point_threshold_comes_from_validation_only(loso):
    rows = pd.DataFrame({"split": ["val"] * 4 + ["test"] * 3,
                         "label": ["COVID", "COVID", "Normal", "Pneumonia", "COVID", "Normal", "Normal"]})
    probs = np.array([[0.9, 0.05, 0.05], [0.3, 0.6, 0.1], [0.1, 0.8, 0.1], [0.2, 0.1, 0.7],
                      [0.35, 0.6, 0.05], [0.25, 0.7, 0.05], [np.nan] * 3])
    pred, threshold = loso.operating_point_predictions(rows, probs, target=0.95)
    assert threshold == 0.3  # both validation COVID films must be caught: the lower one sets it
    assert pred == ["COVID", "COVID", "Normal", "Pneumonia", "COVID", "Normal", ""]


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
