"""Site check, unlabelled adaptation (AdaBN) and few-label recalibration on leave-one-source-out folds.

For each fold of a ``bench_loso.py`` / ``cxrlab loso`` run folder: export the fold's model (with its
training profile), site-check the held-out source and a sample of the fold's internal test split
(which must come out "like"), score the held-out films before and after ``cxrlab adapt`` (BatchNorm
statistics re-estimated on the held-out films, no labels) and after ``cxrlab recalibrate`` with
20 / 50 / 100 labelled films (scored on the held-out films not used for it)::

    python benchmarks/bench_site.py --loso work/loso/lite0-128-all --out work/site --results site.md

Numbers per fold: COVID-vs-rest AUROC (where the source has both), COVID sensitivity, adult non-COVID
films called COVID and adult pneumonia recall at the arg-max (recalibration: at its new COVID threshold),
rates with Wilson 95 % intervals. ``--seed`` draws the site check's film sample and the labelled films.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

PNEUMONIA = ("Pneumonia", "Pneumonia-Viral", "Pneumonia-Bacterial")


def probabilities(bundle: Path, paths: list[str]) -> np.ndarray:
    """Softmax (the card's temperature) of every film; NaN rows for films that fail."""
    from cxrlab.predict.predictor import Predictor

    predictor = Predictor.from_bundle(bundle, threads=2)
    out = np.full((len(paths), len(predictor.classes)), np.nan)
    for lo in range(0, len(paths), 64):
        views, rows = [], []
        for i, path in enumerate(paths[lo:lo + 64]):
            try:
                views.append(predictor.read(path).view)
                rows.append(lo + i)
            except Exception:  # unreadable film: left NaN
                continue
        if views:
            for row, pred in zip(rows, predictor.predict_views(np.stack(views))):
                out[row] = [pred.probabilities[c] for c in predictor.classes]
    return out


def scores(frame: pd.DataFrame, probs: np.ndarray, classes: list[str], threshold: float | None = None) -> dict:
    from cxrlab.loso.scores import auroc, rate

    ok = ~np.isnan(probs).any(axis=1)
    frame, probs = frame[ok].reset_index(drop=True), probs[ok]
    covid = classes.index("COVID")
    called = probs[:, covid] >= threshold if threshold is not None else probs.argmax(1) == covid
    pred = np.asarray(classes, dtype=object)[probs.argmax(1)]
    pred[called] = "COVID"
    if threshold is not None:
        others = probs.copy()
        others[:, covid] = -1
        pred[~called] = np.asarray(classes, dtype=object)[others[~called].argmax(1)]
    labels = frame["label"].to_numpy()
    adult = (frame["population"] != "pediatric").to_numpy()
    is_covid = labels == "COVID"
    out = {"covid_auroc": auroc(probs[:, covid], is_covid),
           "adult_non_covid_called_covid": rate(pred[~is_covid & adult] == "COVID"),
           "covid_sensitivity": rate(pred[is_covid] == "COVID")}
    if "Pneumonia" in classes:
        out["adult_pneumonia_recall"] = rate(pred[np.isin(labels, PNEUMONIA) & adult] == "Pneumonia")
    return out


def cell(score: dict | None) -> str:
    """``0.61 (0.55–0.67)`` for a rate with its Wilson interval, ``0.64`` for an AUROC, ``–`` when undefined."""
    if not score or score.get("value") is None:
        return "–"
    ci = score.get("ci")
    return f"{score['value']:.2f}" + (f" ({ci[0]:.2f}–{ci[1]:.2f})" if ci else "")


def fold(folder: Path, out: Path, seed: int) -> list[dict]:
    from cxrlab.export.bundle import export_bundle
    from cxrlab.site.adapt import AdaptOptions, adapt_run
    from cxrlab.site.check import CheckOptions, check_site
    from cxrlab.site.recalibrate import RecalibrateOptions, recalibrate_bundle

    out.mkdir(parents=True, exist_ok=True)
    preds = pd.read_csv(folder / "predictions.csv", dtype=str, keep_default_na=False)
    ext = preds[preds["split"] == "external"].reset_index(drop=True)
    internal = preds[preds["split"] == "test"].sample(n=min(300, int((preds["split"] == "test").sum())),
                                                      random_state=seed)
    bundle = Path(export_bundle(folder / "run", out / "model.cxrlab").path)
    opts = CheckOptions(max_films=600, seed=seed, permutations=50)
    site, same = check_site(bundle, list(ext["path"]), opts), check_site(bundle, list(internal["path"]), opts)
    classes = list(json.loads(Path(folder / "scores.json").read_text())["classes"])
    rows = [{"step": "before", "site_check": site.level, "internal_check": same.level,
             **scores(ext, probabilities(bundle, list(ext["path"])), classes)}]
    adapted = out / "adapted.cxrlab"
    adapt_run(folder / "run", list(ext["path"]), adapted, AdaptOptions(force=True, seed=seed), log=lambda *_: None)
    rows.append({"step": "after AdaBN (no labels)", **scores(ext, probabilities(adapted, list(ext["path"])), classes)})
    known = ext[ext["label"].isin(["COVID", "Normal", *PNEUMONIA])]
    if "COVID" in set(ext["label"]) and known["label"].nunique() > 1:
        for n in (20, 50, 100):
            if len(known) < n + 20:
                continue
            sample = known.sample(n=n, random_state=seed)
            labels = sample.rename(columns={"path": "file"})[["file", "label"]]
            try:
                report = recalibrate_bundle(adapted, labels, out / f"recal{n}.cxrlab",
                                            RecalibrateOptions(force=True, seed=seed, n_boot=200))
            except Exception as exc:  # too few positives for a threshold, etc.
                rows.append({"step": f"recalibrated, {n} labels", "note": str(exc)[:120]})
                continue
            rest = ext.drop(index=sample.index).reset_index(drop=True)
            card = json.loads(json.dumps(report.record))
            threshold = card.get("threshold", {}).get("value") if isinstance(card.get("threshold"), dict) else None
            rows.append({"step": f"AdaBN + recalibrated, {n} labels",
                         **scores(rest, probabilities(Path(report.path), list(rest["path"])), classes, threshold)})
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--loso", required=True, help="a cxrlab loso / bench_loso variant folder")
    p.add_argument("--out", required=True)
    p.add_argument("--results", required=True, help="Markdown file the table is appended to")
    p.add_argument("--holdout", action="append")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    loso = Path(args.loso)
    folds = args.holdout or sorted(d.name for d in loso.iterdir() if (d / "scores.json").exists())
    lines = []
    for name in folds:
        for row in fold(loso / name, Path(args.out) / name, args.seed):
            cells = [name, str(args.seed), row.get("step", ""), row.get("site_check", ""), row.get("internal_check", "")]
            cells += [cell(row.get(k)) for k in
                      ("covid_auroc", "covid_sensitivity", "adult_non_covid_called_covid", "adult_pneumonia_recall")]
            lines.append("| " + " | ".join(cells + [row.get("note", "")]) + " |")
            print(lines[-1], flush=True)
    header = ("| held out | seed | step | site check (held-out) | site check (internal test) | COVID AUROC | COVID sens. | "
              "adult non-COVID called COVID | adult pneumonia recall | note |\n|---|---|---|---|---|---|---|---|---|---|")
    path = Path(args.results)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    path.write_text(text + "\n" + header + "\n" + "\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
