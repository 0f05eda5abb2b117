"""Report figures as PNG bytes. Uses matplotlib's object API (no pyplot global state, no display)."""

from __future__ import annotations

import math

import numpy as np

from cxrlab.report.plots import INK, PALETTE, new_figure, to_png

def confusion_figure(cm, classes) -> bytes:
    """Counts (left) and row-normalised rates (right): row = true class, column = predicted."""
    cm = np.asarray(cm, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = cm / cm.sum(axis=1, keepdims=True)
    k = len(classes)
    side = 2.2 + 0.75 * k
    fig, axes = new_figure(2 * side + 0.8, side, ncols=2)
    for ax, data, title, fmt in ((axes[0], cm, "Counts", "{:.0f}"), (axes[1], rates, "Share of each true class", "{:.0%}")):
        shown = np.nan_to_num(data / max(np.nanmax(data), 1e-9) if title == "Counts" else data)
        ax.imshow(shown, cmap="Blues", vmin=0, vmax=1)
        ax.grid(False)
        for i in range(k):
            for j in range(k):
                value = data[i, j]
                text = "–" if not math.isfinite(value) else fmt.format(value)
                ax.text(j, i, text, ha="center", va="center", fontsize=10,
                        color="white" if shown[i, j] > 0.55 else INK, fontweight="bold" if i == j else "normal")
        ax.set_xticks(range(k), classes, rotation=30, ha="right")
        ax.set_yticks(range(k), classes)
        ax.set_xlabel("Predicted", color=INK)
        ax.set_ylabel("True", color=INK)
        ax.set_title(title, color=INK, fontsize=11)
    return to_png(fig)


def roc_pr_figure(roc, pr, classes, aucs, aps, prevalence, op_point=None) -> bytes:
    """One-vs-rest ROC curves (left) and precision-recall curves (right), one colour per class.

    ``op_point``: optional ``(class_index, specificity, sensitivity)`` marked on the ROC panel.
    """
    fig, (ax_roc, ax_pr) = new_figure(10.5, 4.6, ncols=2)
    for k, name in enumerate(classes):
        color = PALETTE[k % len(PALETTE)]
        if roc[k] is not None:
            ax_roc.plot(roc[k][0], roc[k][1], color=color, lw=2, label=f"{name}  AUC {aucs[k]:.3f}")
        if pr[k] is not None:
            ax_pr.plot(pr[k][0], pr[k][1], color=color, lw=2, label=f"{name}  AP {aps[k]:.3f}")
            ax_pr.axhline(prevalence[k], color=color, lw=1, ls=":", alpha=0.7)
    ax_roc.plot([0, 1], [0, 1], color="#9ca3af", ls="--", lw=1, label="chance")
    if op_point is not None:
        k, spec, sens = op_point
        ax_roc.scatter([1 - spec], [sens], s=70, facecolor="white", edgecolor=PALETTE[k % len(PALETTE)],
                       linewidth=2.2, zorder=5, label=f"operating point ({classes[k]})")
    _axes_01(ax_roc, "False positive rate (1 − specificity)", "Sensitivity", "ROC, one class vs the rest")
    _axes_01(ax_pr, "Recall (sensitivity)", "Precision (PPV)", "Precision–recall (dotted: prevalence)")
    return to_png(fig)


def _axes_01(ax, xlabel, ylabel, title) -> None:
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.02)
    ax.set_xlabel(xlabel, color=INK)
    ax.set_ylabel(ylabel, color=INK)
    ax.set_title(title, color=INK, fontsize=11)
    ax.legend(loc="lower right" if "ROC" in title else "lower left", fontsize=8.5, frameon=False)


def reliability_figure(before, after, temperature: float) -> bytes:
    """Reliability diagrams before and after temperature scaling, with image counts per bin."""
    fig, axes = new_figure(10.5, 4.2, ncols=2)
    for ax, rel, title in ((axes[0], before, "Raw model (T = 1)"), (axes[1], after, f"Temperature-scaled (T = {temperature:.2f})")):
        centers = (rel.edges[:-1] + rel.edges[1:]) / 2
        width = rel.edges[1] - rel.edges[0]
        used = rel.count > 0
        ax.bar(centers[used], rel.accuracy[used], width=width * 0.9, color="#93c5fd", edgecolor=PALETTE[0], label="accuracy in bin")
        ax.plot([0, 1], [0, 1], color="#6b7280", ls="--", lw=1, label="perfect calibration")
        ax.plot(rel.confidence[used], rel.accuracy[used], "o", color=PALETTE[1], ms=4, label="mean confidence")
        for c, a, n in zip(centers[used], rel.accuracy[used], rel.count[used]):
            ax.text(c, min(a + 0.02, 0.97), str(int(n)), ha="center", fontsize=7, color="#6b7280")
        _axes_01(ax, "Confidence (top probability)", "Accuracy", title)
        ax.legend(loc="upper left", fontsize=8.5, frameon=False)
    return to_png(fig)


def history_figure(history) -> bytes | None:
    """Training curves from a run's ``history`` table (losses left, other metrics right)."""
    from matplotlib.ticker import MaxNLocator

    cols = [c for c in history.columns if c != "epoch" and np.issubdtype(history[c].dtype, np.number)]
    if not cols or len(history) == 0:
        return None
    x = history["epoch"] if "epoch" in history.columns else np.arange(1, len(history) + 1)
    loss = [c for c in cols if "loss" in c]
    # rates only (accuracy, AUC, F1, recall...): counts, throughput and learning rates would squash the axis
    other = [c for c in cols if c not in loss and c != "lr" and history[c].between(0, 1).all()]
    fig, axes = new_figure(10.5, 3.8, ncols=2)
    for ax, group, title in ((axes[0], loss, "Loss"), (axes[1], other, "Validation metrics")):
        for i, c in enumerate(group):
            ax.plot(x, history[c], color=PALETTE[i % len(PALETTE)], lw=2, marker="o", ms=3, label=c)
        ax.set_xlabel("epoch", color=INK)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title, color=INK, fontsize=11)
        if group:
            ax.legend(fontsize=8.5, frameon=False)
    return to_png(fig)


def interval_figure(rows, labels) -> bytes:
    """Point estimates with 95% intervals for several sets side by side (e.g. internal vs external).

    ``rows``: list of ``(metric name, [ {value, low, high} per set ])``; ``labels``: set names.
    """
    fig, axes = new_figure(10.5, 0.55 * len(rows) + 1.2)
    ax = axes[0]
    offsets = np.linspace(-0.18, 0.18, len(labels)) if len(labels) > 1 else [0.0]
    for s, label in enumerate(labels):
        ys, xs, lo, hi = [], [], [], []
        for i, (_, cells) in enumerate(rows):
            cell = cells[s]
            if cell and math.isfinite(cell.get("value", math.nan)):
                ys.append(i + offsets[s])
                xs.append(cell["value"])
                lo.append(cell["value"] - cell["low"] if math.isfinite(cell["low"]) else 0)
                hi.append(cell["high"] - cell["value"] if math.isfinite(cell["high"]) else 0)
        ax.errorbar(xs, ys, xerr=[lo, hi], fmt="o", color=PALETTE[s % len(PALETTE)], capsize=3, lw=1.6, label=label)
    ax.set_yticks(range(len(rows)), [r[0] for r in rows])
    ax.invert_yaxis()
    ax.set_xlim(min(0.5, ax.get_xlim()[0]), 1.0)
    ax.set_xlabel("value with 95% bootstrap interval", color=INK)
    ax.legend(fontsize=9, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=len(labels))
    return to_png(fig)


def overlay_roc_figure(curves, classes, run_names) -> bytes:
    """Several runs' one-vs-rest ROC curves, one panel per class. ``curves[r][k]`` = (fpr, tpr, auc)."""
    k = len(classes)
    fig, axes = new_figure(min(4.2 * k, 14), 4.2, ncols=k)
    for c, ax in enumerate(axes):
        for r, name in enumerate(run_names):
            curve = curves[r][c]
            if curve is not None:
                ax.plot(curve[0], curve[1], color=PALETTE[r % len(PALETTE)], lw=2, label=f"{name}  {curve[2]:.3f}")
        ax.plot([0, 1], [0, 1], color="#9ca3af", ls="--", lw=1)
        _axes_01(ax, "1 − specificity", "Sensitivity", f"ROC: {classes[c]} vs rest")
    return to_png(fig)
