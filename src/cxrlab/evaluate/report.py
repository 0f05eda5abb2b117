"""The evaluation report: one self-contained ``report.html`` (see docs/evaluate.md, "how to read")."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from cxrlab.artifacts.run_folder import RunFolder
from cxrlab.evaluate import plots
from cxrlab.evaluate.calibration import reliability
from cxrlab.evaluate.gallery import confident_mistakes, gallery_html, gallery_items
from cxrlab.report.html import WILSON_NOTE, callout, card, ci_text, esc, figure, num, page, section, table
from cxrlab.evaluate.report_shortcut import shortcut_html
from cxrlab.io.atomic import write_text
from cxrlab.metrics.curves import pr_curves, roc_curves

SMALL_UNITS = 100


def _summary(m: dict) -> str:
    h = m["headline"]
    ev = m["evaluated"]
    unit = {"group": "patient groups", "patient_id": "patients", "image": "images (no patient ids)"}[m["unit"]]
    text = (f"On {m['n_images']:,} images ({esc(ev['name'])}; {m['n_units']:,} {unit}) the model reaches a balanced "
            f"accuracy of {ci_text(h['balanced_accuracy'])} and a macro one-vs-rest AUC of {ci_text(h['auc'])}. "
            "Intervals are 95% bootstrap intervals resampling patients; proportions marked † use the Wilson score "
            "interval instead, where the bootstrap collapses or the count is small.")
    cards = [card("Balanced accuracy", h["balanced_accuracy"]), card("AUC (macro, one-vs-rest)", h["auc"]),
             card("Accuracy", h["accuracy"]), card("Macro F1", h["macro_f1"])]
    op = m.get("operating_point")
    if op:
        cards += [card(f"{op['class']} sensitivity at threshold", op["intervals"]["sensitivity"]),
                  card(f"{op['class']} specificity at threshold", op["intervals"]["specificity"])]
    boxes = []
    if m.get("comparison"):
        comp = m["comparison"]
        boxes.append(callout("bad" if comp["dropped"] else "good", "External validation", comp["verdict"]))
    elif ev["external"]:
        boxes.append(callout("warn", "External data", "These images come from sources the model never trained on, "
                             "but the run has no internal test split to compare with."))
    warnings = (m.get("shortcut") or {}).get("warnings", [])
    if warnings:
        boxes.append(callout("bad", f"Shortcut check: {len(warnings)} warning(s)", warnings[0]
                             + (" See the shortcut section for the rest." if len(warnings) > 1 else "")))
    if m["n_units"] < SMALL_UNITS:
        boxes.append(callout("warn", "Small test set", f"Only {m['n_units']} independent units: the intervals are wide "
                             "and differences between models of a few points are not meaningful."))
    if ev["excluded"]:
        parts = ", ".join(f"{n:,} × {why}" for why, n in ev["excluded"].items())
        boxes.append(callout("info", "Images left out", parts))
    for note in ev["notes"]:
        boxes.append(callout("info", "Note", note))
    return f"<p>{text}</p><div class=\"cards\">{''.join(cards)}</div>{''.join(boxes)}"


def _per_class(m: dict) -> str:
    iv = m["intervals"]
    rows = []
    for cls, r in m["per_class"].items():
        rows.append([esc(cls), num(r["precision"]), ci_text(iv.get(f"sensitivity:{cls}")),
                     ci_text(iv.get(f"specificity:{cls}")), num(r["f1"]), ci_text(iv.get(f"auc:{cls}")),
                     num(r["ap"]), num(r["support"])])
    for kind in ("macro", "weighted"):
        a = m["averages"][kind]
        rows.append([f"<i>{kind} average</i>", num(a["precision"]), num(a["recall"]), num(a["specificity"]),
                     num(a["f1"]), num(a["auc"]), num(a["ap"]), num(sum(r["support"] for r in m["per_class"].values()))])
    overall = [["accuracy", ci_text(iv["accuracy"])], ["balanced accuracy (mean sensitivity)", ci_text(iv["balanced_accuracy"])],
               ["macro F1", ci_text(iv["macro_f1"])], ["macro AUC", ci_text(iv["auc"])]]
    return (table(["class", "precision (PPV)", "sensitivity (recall)", "specificity", "F1", "ROC AUC", "average precision", "support"], rows, raw=True)
            + "<p class=\"small\">Predicted class = highest probability. Sensitivity, specificity and AUC with 95% intervals "
            f"(bootstrap over patients unless marked). {esc(WILSON_NOTE)}</p>"
            + table(["overall", "value (95% CI)"], overall))


def _calibration(m: dict, main, temperature: float) -> str:
    cal, fit = m["calibration"], m["calibration_fit"]
    rows = [["raw model (T = 1)", num(cal["raw"]["ece"]), num(cal["raw"]["brier"]), num(cal["raw"]["mean_confidence"])],
            [f"temperature-scaled (T = {temperature:.3f})", num(cal["scaled"]["ece"]), num(cal["scaled"]["brier"]),
             num(cal["scaled"]["mean_confidence"])]]
    accuracy = m["headline"]["accuracy"]["value"]
    if fit["fitted_on_validation"]:
        how = (f"The temperature was fitted on {fit['validation']['n']:,} validation images and stored in the "
               "checkpoint; prediction, export and the service apply it.")
    else:
        how = f"Temperature taken from the checkpoint as stored ({fit['validation'].get('note', '')})."
    fig = plots.reliability_figure(reliability(main.probs(1.0), main.targets), reliability(main.probs(temperature), main.targets), temperature)
    return (f"<p>{esc(how)} Accuracy is {num(accuracy)}: a calibrated model's mean confidence is close to it.</p>"
            + table(["probabilities", "ECE (lower is better)", "Brier score (lower is better)", "mean confidence"], rows)
            + figure(fig, "reliability diagram", "Bars: accuracy of the images in each confidence bin (count above). "
                     "On the diagonal = calibrated; below = over-confident."))


def _operating_point(m: dict) -> str:
    op, fit = m.get("operating_point"), m["calibration_fit"]
    if not op:
        return "<p>No threshold: the validation split has no image of the target class (or no validation split).</p>"
    iv = op["intervals"]
    val = (fit.get("validation") or {}).get("operating_point") or {}
    rows = [["sensitivity", num(val.get("sensitivity")), ci_text(iv["sensitivity"])],
            ["specificity", num(val.get("specificity")), ci_text(iv["specificity"])],
            ["PPV (precision)", num(val.get("ppv")), ci_text(iv["ppv"])],
            ["NPV", num(val.get("npv")), ci_text(iv["npv"])]]
    if "accuracy" in iv:
        rows.append(["accuracy at the threshold", num(val.get("accuracy")), ci_text(iv["accuracy"])])
    return (f"<p>Rule: flag <b>{esc(op['class'])}</b> when its probability is ≥ <b>{_threshold(op['threshold'])}</b>. The threshold was "
            f"picked on the validation split as the highest one reaching {op['target_sensitivity']:.0%} sensitivity there, "
            f"then applied unchanged to this set ({op['tp']} true positives, {op['fp']} false positives, {op['fn']} missed, "
            f"{op['tn']} true negatives). It is stored in the checkpoint's thresholds.</p>"
            + table(["", "validation (where it was picked)", "this set (95% CI)"], rows)
            + f"<p class=\"small\">{esc(WILSON_NOTE)}</p>")


def _threshold(t: float) -> str:
    """Enough digits to tell a threshold of 0.99997 from 1."""
    return f"{t:.4f}" if 0.001 <= t <= 0.999 else f"{t:.6g}"


def _per_source(m: dict) -> str:
    if not m["per_source"]:
        return "<p>Only one source in this set.</p>"
    classes = m["classes"]
    rows = [[s, num(r["n_images"]), ", ".join(f"{c} {r['class_counts'][c]}" for c in classes if r["class_counts"][c]),
             ci_text(r["intervals"]["accuracy"]), ci_text(r["intervals"]["balanced_accuracy"]), ci_text(r["intervals"]["auc"])]
            for s, r in m["per_source"].items()]
    return table(["source", "images", "classes", "accuracy", "balanced accuracy", "macro AUC"], rows) + (
        "<p class=\"small\">AUC and balanced accuracy are undefined (–) in a source holding a single class.</p>")


def _external(m: dict) -> str:
    comp = m["comparison"]
    names = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "macro_f1": "macro F1", "auc": "macro AUC"}
    rows = [[names[k], ci_text(r["internal"]), ci_text(r["external"]), num(r["difference"])] for k, r in comp["metrics"].items()]
    fig = plots.interval_figure([(names[k], [r["internal"], r["external"]]) for k, r in comp["metrics"].items()],
                                ["internal test", "external"])
    kind = "bad" if comp["dropped"] else "good"
    return (callout(kind, "Verdict", comp["verdict"])
            + table(["metric", f"internal test (n={m['internal']['n_images']:,})", f"external (n={m['n_images']:,})", "difference"], rows)
            + figure(fig, "internal vs external"))


def _history(run_dir: Path | None) -> str:
    """The run's own curves.png (drawn by training), else curves drawn here from history.csv."""
    if run_dir is None:
        return "<p>No run folder: training curves unavailable.</p>"
    run = RunFolder(run_dir)
    if run.curves.exists():
        return figure(run.curves.read_bytes(), "training curves", f"{run.name}/{run.curves.name}, drawn during training.")
    png = None
    if run.history_csv.exists():
        try:
            png = plots.history_figure(pd.read_csv(run.history_csv))
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError):
            png = None
    return figure(png, "training curves", f"From {run.name}/{run.history_csv.name}.") if png else "<p>The run has no history.</p>"


def build_report(m: dict, main, internal, run_dir: Path | None, gallery: int = 12, explain=None) -> str:
    """The report's HTML; ``explain(rows) -> {row: RGB overlay}`` draws the mistakes' heatmaps."""
    classes, temperature = m["classes"], m["calibration"]["temperature"]
    probs, targets = main.probs(temperature), main.targets
    pc = m["per_class"]
    op = m.get("operating_point")
    op_mark = (classes.index(op["class"]), op["specificity"], op["sensitivity"]) if op and math.isfinite(op["specificity"]) else None
    roc_png = plots.roc_pr_figure(roc_curves(probs, targets), pr_curves(probs, targets), classes,
                                  [pc[c]["auc"] for c in classes], [pc[c]["ap"] for c in classes],
                                  [pc[c]["support"] / max(m["n_images"], 1) for c in classes], op_mark)
    idx = confident_mistakes(probs, targets, gallery)
    items = gallery_items(idx, main.images, probs, targets, classes, main.df["path"].to_numpy(), main.df["source"].to_numpy())
    overlays = explain([item["row"] for item in items]) if explain is not None and items else {}
    parts = [("summary", "Summary", section("summary", "Summary", _summary(m)))]
    if m.get("comparison"):
        parts.append(("external", "Internal vs external", section("external", "Internal vs external validation", _external(m))))
    parts += [
        ("classes", "Per class", section("classes", "Per-class metrics", _per_class(m))),
        ("confusion", "Confusion", section("confusion", "Confusion matrix", figure(plots.confusion_figure(m["confusion_matrix"], classes), "confusion matrix",
                                                                               "Rows: true class; columns: predicted class."))),
        ("roc", "ROC / PR", section("roc", "ROC and precision-recall curves", figure(roc_png, "ROC and PR curves"))),
        ("calibration", "Calibration", section("calibration", "Calibration", _calibration(m, main, temperature))),
        ("threshold", "Operating point", section("threshold", "Operating point", _operating_point(m))),
        ("sources", "Per source", section("sources", "Per-source breakdown", _per_source(m))),
    ]
    if m.get("shortcut"):
        parts.append(("shortcut", "Shortcut check", section("shortcut", "Shortcut check", shortcut_html(m["shortcut"]))))
    parts += [
        ("training", "Training", section("training", "Training curves", _history(run_dir))),
        ("mistakes", "Mistakes", section("mistakes", "Most confident mistakes", gallery_html(items, main.images, overlays),
                                         lead="The wrong predictions the model was surest about — look for label noise, markers, odd sources."
                                         + (" Each film carries the Grad-CAM heatmap of the predicted class: what made the model so sure." if overlays else ""))),
        ("about", "About", section("about", "About this evaluation", _about(m))),
    ]
    subtitle = f"{m['architecture']} · {len(classes)} classes ({', '.join(classes)}) · evaluated on {m['evaluated']['name']}"
    return page(f"Evaluation: {Path(m['run']).name}", subtitle, parts)


def _about(m: dict) -> str:
    b = m["bootstrap"]
    rows = [["run", m["run"]], ["checkpoint", m["checkpoint"]], ["manifest", m["evaluated"]["manifest"]],
            ["label scheme", m["label_scheme"]], ["images evaluated", f"{m['n_images']:,} images, {m['n_units']:,} independent units ({m['unit']})"],
            ["bootstrap", f"{b['resamples']} resamples of {m['unit']}, seed {b['seed']}, percentile 95% intervals; "
             "proportions use the Wilson score interval where the bootstrap collapses or fewer than 30 images count (†)"],
            ["sources", ", ".join(f"{s} ({n})" for s, n in m["sources"].items())]]
    return table([], rows) + "<p class=\"small\">How to read this report: docs/evaluate.md. Numbers in metrics.json; per-image probabilities in predictions.csv.</p>"


def write_report(path: Path, metrics: dict, main, internal, run_dir: Path | None, gallery: int = 12,
                 explain=None) -> Path:
    write_text(path, build_report(metrics, main, internal, run_dir, gallery, explain))
    return path
