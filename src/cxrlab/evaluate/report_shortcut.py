"""The shortcut-check section (shared by the evaluation report and ``cxrlab shortcut-check``)."""

from __future__ import annotations

import math

import numpy as np

from cxrlab.report.html import callout, esc, figure, num, table
from cxrlab.report.plots import PALETTE, new_figure, to_png

EXPLAIN = (
    "Pooled chest X-ray collections mix hospitals, scanners and patient groups whose class balance "
    "differs. If a label comes mostly from one source, a model can reach a high score by recognising "
    "the source (image processing, text markers, children's anatomy) instead of the disease. "
    "Three checks: (b) how the classes are spread over sources, (a) whether the source can be read off "
    "the model's features, (c) performance inside single sources against pooled performance."
)


def balance_figure(balance_table: dict) -> bytes | None:
    """Horizontal stacked bars: the class mix of each source, with its image count."""
    sources = list(balance_table)
    if not sources:
        return None
    classes = sorted({c for row in balance_table.values() for c in row})
    counts = np.array([[balance_table[s].get(c, 0) for c in classes] for s in sources], dtype=np.float64)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, axes = new_figure(10.5, 0.5 * len(sources) + 1.3)
    ax = axes[0]
    left = np.zeros(len(sources))
    for k, cls in enumerate(classes):
        ax.barh(range(len(sources)), shares[:, k], left=left, color=PALETTE[k % len(PALETTE)], label=cls, height=0.65)
        left += shares[:, k]
    for i, total in enumerate(counts.sum(axis=1)):
        ax.text(1.01, i, f"n={int(total):,}", va="center", fontsize=8.5, color="#374151")
    ax.set_yticks(range(len(sources)), sources)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.12)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0%", "25%", "50%", "75%", "100%"])
    ax.set_xlabel("share of the source's images", color="#1f2937")
    ax.legend(ncols=min(len(classes), 5), fontsize=8.5, frameon=False, loc="lower center", bbox_to_anchor=(0.45, 1.0))
    return to_png(fig)


def _balance_html(balance: dict, chart: bool = True) -> str:
    tab = balance["table"]
    classes = sorted({c for row in tab.values() for c in row})
    rows = [[s] + [num(tab[s].get(c, 0)) for c in classes] + [num(sum(tab[s].values()))] for s in tab]
    v = balance.get("cramers_v", math.nan)
    return (
        f"<h3>(b) Class balance per source <span class=\"small\">({esc(balance.get('measured_on', ''))})</span></h3>"
        + (figure(balance_figure(tab), "class mix per source") if chart else "")
        + table(["source", *classes, "total"], rows)
        + f"<p>Cramér's V between label and source: <b>{num(v, 2)}</b> ({esc(balance.get('strength', ''))}; "
        "0 = the class mix is the same in every source, 1 = the source determines the label).</p>"
    )


def _probe_row(name: str, res: dict, control: bool = False) -> list[str]:
    ba, chance = res.get("balanced_accuracy", math.nan), res.get("chance", math.nan)
    if not math.isfinite(ba):
        return [name, "–", num(res.get("n", 0)), "–", "–", res.get("reason", "not enough data")]
    if control:
        verdict = "what the label alone reveals about the source"
    elif ba >= chance + 0.25:
        verdict = "source clearly recognisable"
    elif ba >= chance + 0.1:
        verdict = "source partly recognisable"
    else:
        verdict = "close to chance"
    return [name, str(len(res["sources"])), num(res["n"]), num(ba, 2), num(chance, 2), verdict]


def _probes_html(probes: dict | None) -> str:
    head = "<h3>(a) Can the source be predicted from the model's features?</h3>"
    if not probes:
        return head + "<p>Not measured (needs images from at least two sources, and model features).</p>"
    rows = [_probe_row("all evaluated images — model features", probes["features"]),
            _probe_row("all evaluated images — class label only (control)", probes["label_only"], control=True)]
    rows += [_probe_row(f"only {cls} images — model features", res) for cls, res in probes["within_class"].items()]
    return (
        head + "<p class=\"small\">Cross-validated logistic regression on the penultimate-layer features; folds "
        "keep each patient on one side. Balanced accuracy: mean recall over sources; chance = 1 / number of sources. "
        "The within-class rows are the telling ones: the disease is the same, so only source cues remain.</p>"
        + table(["probe", "sources", "images", "balanced accuracy", "chance", "reading"], rows)
    )


def _within_html(within: dict | None) -> str:
    head = "<h3>(c) Performance within a single source vs pooled across sources</h3>"
    if not within:
        return head + "<p>Not measured.</p>"
    rows = []
    for cls, res in within["per_class"].items():
        contrast = ", ".join(res["sources_with_contrast"]) or "none"
        rows.append([cls, num(res["pooled_auc"]), num(res["within_source_auc"]), contrast])
    src_rows = []
    for name, res in within["per_source"].items():
        aucs = ", ".join(f"{c} {num(v)}" for c, v in res["auc"].items()) or "–"
        src_rows.append([name, num(res["n"]), ", ".join(res["classes"]), num(res["accuracy"]), num(res["balanced_accuracy"]), aucs])
    return (
        head + "<p class=\"small\">Within-source AUC: one class against the rest computed inside each source that has "
        "both, averaged weighted by source size. If it is much lower than the pooled AUC, part of the pooled score "
        "comes from telling sources apart.</p>"
        + table(["class", "pooled AUC", "within-source AUC", "sources containing the class and others"], rows)
        + table(["source", "images", "classes present", "accuracy", "balanced accuracy", "AUC inside the source"], src_rows)
    )


def shortcut_html(shortcut: dict) -> str:
    """The section body: warnings first, then the three measurements."""
    warnings = shortcut.get("warnings", [])
    if warnings:
        boxes = "".join(callout("bad", "Shortcut warning", w) for w in warnings)
    else:
        boxes = callout("good", "No shortcut signal found",
                        "Label and source are not confounded beyond the thresholds used here, and the model does not "
                        "perform notably better pooled than within single sources.")
    evaluated = shortcut.get("balance_evaluated")
    extra = ""
    if evaluated and evaluated.get("measured_on") != shortcut["balance"].get("measured_on"):
        extra = _balance_html(evaluated, chart=False)
    return (f"<p>{esc(EXPLAIN)}</p>" + boxes + _balance_html(shortcut["balance"]) + extra
            + _probes_html(shortcut.get("probes")) + _within_html(shortcut.get("within_source")))
