"""``report.html`` of a leave-one-source-out run: each held-out source as a new hospital, side by side
with the internal test split of the same fold, and a plot of internal vs held-out numbers."""

from __future__ import annotations

from pathlib import Path

from cxrlab.report.plots import new_figure, to_png
from cxrlab.report.html import callout, esc, figure, page, section, table
from cxrlab.io.atomic import write_text
from cxrlab.loso.summary import TARGETS

#: (key in the holdout scores, column title, higher is better)
HOLDOUT_COLUMNS = (
    ("covid_sensitivity", "COVID sensitivity", True),
    ("covid_auroc", "COVID vs rest AUROC", True),
    ("adult_non_covid_called_covid", "adult non-COVID called COVID", False),
    ("adult_pneumonia_recall", "adult pneumonia recall", True),
    ("adult_pneumonia_vs_normal_auroc", "pneumonia vs normal AUROC", True),
)


def cell(item: dict | None) -> str:
    """``0.91 (0.88–0.93) n=412`` for a rate, ``0.87 (412+/90−)`` for an AUROC, ``–`` when not measured;
    over repeats ``0.88 (seeds 0.85–0.91) n=412``: the mean and the range over the training seeds."""
    if not isinstance(item, dict) or item.get("value") is None:
        return "–"
    text = f"{item['value']:.2f}"
    if item.get("seed_range"):
        text += f" (seeds {item['seed_range'][0]:.2f}–{item['seed_range'][1]:.2f})"
    elif item.get("ci"):
        text += f" ({item['ci'][0]:.2f}–{item['ci'][1]:.2f})"
    if "n" in item:
        return f"{text} n={item['n']}"
    return f"{text} ({item.get('n_pos', 0)}+/{item.get('n_neg', 0)}−)"


def threshold_cell(part: dict) -> str:
    """``0.063 (95%)``: the COVID threshold the fold's validation split set, and its sensitivity target."""
    threshold = part.get("covid_threshold")
    if threshold is None:
        return "–"
    target = part.get("val_sensitivity_target")
    text = f"{threshold:.3f}" + (f" ({target:.0%})" if target is not None else "")
    seeds = part.get("covid_threshold_seed_values")
    if seeds and len(seeds) > 1:
        text += f", seeds {min(seeds):.3f}–{max(seeds):.3f}"
    return text


def fold_table(folds: dict, decision: str) -> str:
    """One row per held-out source; at the operating point also the COVID threshold each fold applied."""
    with_threshold = decision == "operating_point"
    headers = ["held-out source", "films", *[title for _, title, _ in HOLDOUT_COLUMNS],
               "internal macro-F1", *(["COVID threshold (val. sens.)"] if with_threshold else []), "train min"]
    rows = []
    for holdout, scores in folds.items():
        part = scores.get(decision)
        if part is None:
            continue
        h, i = part["holdout"], part["internal"]
        rows.append([holdout, h.get("films", 0), *[cell(h.get(key)) for key, _, _ in HOLDOUT_COLUMNS],
                     cell(i.get("macro_f1")), *([threshold_cell(part)] if with_threshold else []),
                     f"{scores.get('train_minutes', 0):.1f}"])
    return table(headers, rows)


def called_table(folds: dict) -> str:
    """What each held-out label was called (at the operating point when there is one)."""
    rows = []
    for holdout, scores in folds.items():
        part = scores.get("operating_point") or scores["argmax"]
        for label, counts in part["holdout"].get("called", {}).items():
            total = sum(counts.values()) or 1
            shares = ", ".join(f"{cls} {n / total:.0%}" for cls, n in sorted(counts.items(), key=lambda kv: -kv[1]))
            rows.append([holdout, label, total, shares])
    return table(["held-out source", "true label", "films", "called"], rows)


def gap_plot(folds: dict) -> bytes | None:
    """Internal macro-F1 next to the held-out COVID sensitivity / non-COVID specificity, per fold."""
    names, internal, sens, spec = [], [], [], []
    for holdout, scores in folds.items():
        part = scores.get("operating_point") or scores["argmax"]
        h = part["holdout"]
        names.append(holdout)
        internal.append((part["internal"].get("macro_f1") or {}).get("value") or 0)
        sens.append((h.get("covid_sensitivity") or {}).get("value") or 0)
        called = (h.get("adult_non_covid_called_covid") or {}).get("value")
        spec.append(1 - called if called is not None else 0)
    if not names:
        return None
    fig, (ax,) = new_figure(max(5, 1.6 * len(names)), 3.2)
    xs = range(len(names))
    for offset, values, label in ((-0.27, internal, "internal macro-F1"), (0, sens, "held-out COVID sensitivity"),
                                  (0.27, spec, "held-out adult non-COVID not called COVID")):
        ax.bar([x + offset for x in xs], values, width=0.26, label=label)
    ax.set_xticks(list(xs), names, rotation=15, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.axhline(0.9, color="#999", lw=0.8, ls="--")
    ax.legend(fontsize=7, loc="lower left")
    return to_png(fig)


def verdict(folds: dict) -> str:
    """Which held-out sources missed COVID sensitivity ≥ 0.90 or ≤ 10 % adults called COVID (over
    repeats: by the mean, and which met them with some training seeds only)."""
    limit = {key: target for key, target, _, _ in TARGETS}
    most_called, least_sens = limit["adult_non_covid_called_covid"], limit["covid_sensitivity"]
    worst, some_seeds = [], []
    for holdout, scores in folds.items():
        part = scores.get("operating_point") or scores["argmax"]
        called = part["holdout"].get("adult_non_covid_called_covid") or {}
        sens = part["holdout"].get("covid_sensitivity") or {}
        if called.get("value") is not None and called["value"] > most_called:
            worst.append(f"{holdout}: {called['value']:.0%} of adult non-COVID films called COVID")
        elif (called.get("seed_range") or [0, 0])[1] > most_called:
            some_seeds.append(f"{holdout}: up to {called['seed_range'][1]:.0%} of adult non-COVID films called COVID")
        if sens.get("value") is not None and sens["value"] < least_sens:
            worst.append(f"{holdout}: COVID sensitivity {sens['value']:.2f}")
        elif (sens.get("seed_range") or [1, 1])[0] < least_sens:
            some_seeds.append(f"{holdout}: COVID sensitivity down to {sens['seed_range'][0]:.2f}")
    seeds = f" With some training seeds also {'; '.join(some_seeds)}." if some_seeds else ""
    if worst:
        return callout("bad", "The recipe does not carry over to every source it never saw",
                       "; ".join(worst) + f".{seeds} Expect numbers like these, not the internal ones, at a new hospital.")
    if some_seeds:
        return callout("warn", "The targets hold for some training seeds only",
                       f"On average every held-out source met them.{seeds} A new hospital gets one seed's model.")
    return callout("good", "Every held-out source scored within the targets",
                   "COVID sensitivity ≥ 0.90 and ≤ 10 % adult non-COVID films called COVID where measured.")


def write_report(summary: dict, path: str | Path) -> Path:
    folds = summary["folds"]
    cfg = summary.get("config", {})
    model = cfg.get("model", {}).get("name", "?")
    size = cfg.get("data", {}).get("preprocess", {}).get("size", "?")
    scheme = cfg.get("data", {}).get("scheme", "?")
    lead = ("Each row trains on every other source and scores the held-out one as a new hospital "
            "(its films' copies elsewhere dropped). Rates: value (Wilson 95 % interval) n=films. "
            "The COVID threshold is set on the fold's validation split and applied unchanged: a new hospital's "
            "COVID films often score lower than the training hospitals', so its sensitivity falls below the "
            "validation target.")
    seeds = summary.get("train_seeds") or []
    if len(seeds) > 1:
        lead += (f" Each fold was trained {len(seeds)} times on the same split (training seeds "
                 f"{', '.join(map(str, seeds))}): a value is the mean over them, with their range; at a new "
                 "hospital the seeds alone can move a number as much as a change of recipe.")
    body = verdict(folds) + figure(gap_plot(folds), "internal vs held-out", "Per fold, at the operating point.")
    sections = [("folds", "Folds", section("folds", "Held-out sources at the operating point",
                                          body + fold_table(folds, "operating_point"), lead)),
                ("argmax", "Arg-max", section("argmax", "Held-out sources at the arg-max", fold_table(folds, "argmax"))),
                ("called", "Called as", section("called", "What each held-out label was called", called_table(folds)))]
    text = page("cxrlab leave-one-source-out", f"{esc(model)} {size} px, scheme {esc(scheme)}, "
                f"seed {summary.get('seed', 0)}" + (f", {len(seeds)} training seeds" if len(seeds) > 1 else ""),
                sections)
    write_text(path, text)
    return Path(path)
