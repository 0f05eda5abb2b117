"""``compare_runs``: several evaluated runs side by side, with overlaid ROC curves and, when the
runs were evaluated on the same images, paired bootstrap intervals for their differences."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from cxrlab.artifacts.run_folder import EVALUATION, EvaluationFolder, RunFolder
from cxrlab.errors import ConfigError
from cxrlab.evaluate import plots
from cxrlab.evaluate.bootstrap import confidence_intervals, headline_stat, resampling_units
from cxrlab.report.html import callout, ci_text, figure, num, page, section, table
from cxrlab.evaluate.pipeline import EvaluateOptions, evaluate_run, jsonable
from cxrlab.io.atomic import write_text
from cxrlab.metrics.classification import one_vs_rest_auc
from cxrlab.metrics.curves import roc_curves

PAIRED_KEYS = ("accuracy", "balanced_accuracy", "auc")


def evaluation_dir(run: Path) -> Path:
    """``run`` itself when it holds metrics.json (an evaluation folder), else ``run/evaluation``."""
    return run if EvaluationFolder(run).metrics.exists() else RunFolder(run).evaluation


def load_evaluation(run: Path, evaluate_missing: bool, options: EvaluateOptions, cache_root, log) -> tuple[dict, pd.DataFrame]:
    folder = evaluation_dir(run)
    if not EvaluationFolder(folder).is_evaluation():
        if not evaluate_missing:
            raise ConfigError(f"{run}: not evaluated yet (run 'cxrlab evaluate {run}' first)")
        log(f"{run}: no evaluation yet, evaluating with default settings")
        folder = evaluate_run(run, cache_root=cache_root, options=options, log=log)
    try:
        files = EvaluationFolder(folder)
        metrics = json.loads(files.metrics.read_text(encoding="utf-8"))
        preds = pd.read_csv(files.predictions, keep_default_na=False)
    except (OSError, json.JSONDecodeError, pd.errors.ParserError) as exc:
        raise ConfigError(f"{folder}: unreadable evaluation ({exc})") from None
    preds = preds[preds["set"] == metrics["evaluated"]["name"]].reset_index(drop=True)
    return metrics, preds


def _probs(preds: pd.DataFrame, classes) -> np.ndarray:
    return preds[[f"prob_{c}" for c in classes]].to_numpy(dtype=np.float64)


def _targets(preds: pd.DataFrame, classes) -> np.ndarray:
    return preds["true"].map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=np.int64)


def paired_difference(a: pd.DataFrame, b: pd.DataFrame, classes, n_boot: int, seed: int) -> dict | None:
    """Bootstrap intervals of ``b - a`` on the images both were evaluated on (same patients drawn
    for both models, so the interval reflects the difference, not two independent noises)."""
    merged = a.merge(b, on="path", suffixes=("_a", "_b"))
    if len(merged) < 10:
        return None
    cols_a = merged[[f"prob_{c}_a" for c in classes]].to_numpy(dtype=np.float64)
    cols_b = merged[[f"prob_{c}_b" for c in classes]].to_numpy(dtype=np.float64)
    targets = merged["true_a"].map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=np.int64)
    stat_a, stat_b = headline_stat(cols_a, targets, classes), headline_stat(cols_b, targets, classes)

    def diff(idx):
        sa, sb = stat_a(idx), stat_b(idx)
        return {k: sb[k] - sa[k] for k in PAIRED_KEYS}

    units, _ = resampling_units(merged.rename(columns={"group_a": "group"}))
    return {"n_images": int(len(merged)), **confidence_intervals(diff, units, n_boot, seed)}


def compare_runs(
    runs: list[str | Path], out: str | Path, n_boot: int = 1000, seed: int = 0, evaluate_missing: bool = True,
    cache_root=None, log: Callable[[str], None] = lambda _m: None,
) -> Path:
    """Write ``compare.html`` and ``compare.json`` for ``runs`` into the folder ``out``; returns ``out``."""
    if len(runs) < 2:
        raise ConfigError("compare needs at least two runs")
    options = EvaluateOptions(n_boot=n_boot, seed=seed)
    loaded = [load_evaluation(Path(r), evaluate_missing, options, cache_root, log) for r in runs]
    names = _unique_names([Path(r) for r in runs])
    classes = loaded[0][0]["classes"]
    same_classes = all(m["classes"] == classes for m, _ in loaded)
    paired = {}
    if same_classes:
        for name, (_, preds) in zip(names[1:], loaded[1:]):
            paired[name] = paired_difference(loaded[0][1], preds, classes, n_boot, seed)
    summary = {"runs": [{"name": n, "run": m["run"], "architecture": m["architecture"], "evaluated": m["evaluated"]["name"],
                         "n_images": m["n_images"], "headline": m["headline"], "calibration": m["calibration"],
                         "operating_point": m.get("operating_point")} for n, (m, _) in zip(names, loaded)],
               "baseline": names[0], "paired_differences": paired}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "compare.json", json.dumps(jsonable(summary), indent=2))
    write_text(out / "compare.html", _page(summary, loaded, names, classes if same_classes else None))
    return out


def _unique_names(paths: list[Path]) -> list[str]:
    names = [p.name if p.name != EVALUATION else p.parent.name for p in paths]
    return [n if names.count(n) == 1 else f"{n} ({i + 1})" for i, n in enumerate(names)]


def _page(summary: dict, loaded, names, classes) -> str:
    rows = []
    for r in summary["runs"]:
        h, op = r["headline"], r.get("operating_point")
        rows.append([r["name"], r["architecture"], r["evaluated"], num(r["n_images"]), ci_text(h["accuracy"]),
                     ci_text(h["balanced_accuracy"]), ci_text(h["macro_f1"]), ci_text(h["auc"]),
                     num(r["calibration"]["scaled"]["ece"])])
    body = table(["run", "model", "evaluated on", "images", "accuracy", "balanced accuracy", "macro F1", "macro AUC", "ECE"], rows)
    op_rows = [[r["name"], op["class"], f"{op['threshold']:.4g}", ci_text(op["intervals"]["sensitivity"]),
                ci_text(op["intervals"]["specificity"]), ci_text(op["intervals"]["ppv"])]
               for r in summary["runs"] if (op := r.get("operating_point"))]
    if op_rows:
        body += "<h3>Operating point (threshold picked on each run's validation split)</h3>" + table(
            ["run", "class", "threshold", "sensitivity", "specificity", "PPV"], op_rows)
    if len({r["evaluated"] for r in summary["runs"]}) > 1 or len({r["n_images"] for r in summary["runs"]}) > 1:
        body += callout("warn", "Different test sets", "The runs were not evaluated on the same images; compare with care.")
    parts = [("table", "Side by side", section("table", "Side by side", body, lead="95% bootstrap intervals resampling patients."))]
    paired_rows = [[f"{name} − {summary['baseline']}", num(res["n_images"])] + [ci_text(res[k]) for k in PAIRED_KEYS]
                   for name, res in summary["paired_differences"].items() if res]
    if paired_rows:
        text = table(["difference", "shared images", "accuracy", "balanced accuracy", "macro AUC"], paired_rows) + (
            "<p class=\"small\">Paired bootstrap on the images both runs were evaluated on: an interval that contains 0 "
            "means the data cannot tell the two models apart on that metric.</p>")
        parts.append(("paired", "Differences", section("paired", "Paired differences", text)))
    if classes:
        curves = []
        for _, preds in loaded:
            probs, targets = _probs(preds, classes), _targets(preds, classes)
            aucs = one_vs_rest_auc(probs, targets)
            curves.append([None if c is None else (c[0], c[1], aucs[k]) for k, c in enumerate(roc_curves(probs, targets))])
        parts.append(("roc", "ROC curves", section("roc", "ROC curves", figure(plots.overlay_roc_figure(curves, classes, names), "overlaid ROC"))))
    else:
        parts.append(("roc", "ROC curves", section("roc", "ROC curves", "<p>The runs have different classes; no overlay.</p>")))
    return page("Comparison: " + ", ".join(names), f"{len(names)} runs · " + ", ".join(r["architecture"] for r in summary["runs"]), parts)
