"""Site-check figures as PNG bytes: reference (grey) against the site (blue), always."""

from __future__ import annotations

import numpy as np

from cxrlab.report.plots import INK, new_figure, to_png

REF, SITE, BAD = "#9ca3af", "#2563eb", "#dc2626"


def _hist_pair(ax, ref: np.ndarray, site: np.ndarray, title: str) -> None:
    ref, site = ref[np.isfinite(ref)], site[np.isfinite(site)]
    both = np.concatenate([ref, site]) if len(ref) + len(site) else np.zeros(1)
    lo, hi = float(both.min()), float(both.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    bins = np.linspace(lo, hi, 31)
    for values, colour, label in ((ref, REF, "reference"), (site, SITE, "site")):
        if len(values):
            ax.hist(values, bins=bins, density=True, color=colour, alpha=0.55, label=f"{label} (n={len(values)})")
    ax.set_title(title, color=INK, fontsize=10)
    ax.set_yticks([])
    ax.locator_params(axis="x", nbins=4)


def image_figure(profile, films) -> bytes:
    """Histograms of the raw-file statistics and of the model's view intensity."""
    views = films.views.reshape(len(films), -1)
    panels = [
        (profile.raw["mean"], films.stats["mean"], "mean intensity (0-1)"),
        (profile.raw["std"], films.stats["std"], "contrast: intensity std"),
        (profile.raw["width"], films.stats["width"], "width (pixels)"),
        (profile.raw["height"], films.stats["height"], "height (pixels)"),
        (profile.view["mean"], views.mean(axis=1) / 255, "model's view: brightness"),
        (profile.view["std"], views.std(axis=1) / 255, "model's view: contrast"),
    ]
    fig, axes = new_figure(12, 2.6, ncols=len(panels))
    for ax, (ref, site, title) in zip(axes, panels):
        _hist_pair(ax, np.asarray(ref), np.asarray(site), title)
    axes[0].legend(fontsize=8, frameon=False, loc="upper left")
    return to_png(fig)


def feature_figure(ref_coords: np.ndarray, site_coords: np.ndarray, ref_scores: np.ndarray,
                   site_scores: np.ndarray, threshold: float) -> bytes:
    """Left: the first two feature directions; right: outlier scores with the threshold."""
    fig, axes = new_figure(11, 4.0, ncols=2)
    ax = axes[0]
    outlying = site_scores > threshold
    ax.scatter(ref_coords[:, 0], ref_coords[:, 1], s=14, color=REF, alpha=0.7, label="reference", linewidths=0)
    ax.scatter(site_coords[~outlying, 0], site_coords[~outlying, 1], s=14, color=SITE, alpha=0.7, label="site",
               linewidths=0)
    if outlying.any():
        ax.scatter(site_coords[outlying, 0], site_coords[outlying, 1], s=22, color=BAD, marker="x",
                   label="site outlier")
    ax.set_xlabel("feature direction 1 (reference SD)", color=INK)
    ax.set_ylabel("feature direction 2 (reference SD)", color=INK)
    ax.set_title("Where the model places each film", color=INK, fontsize=11)
    ax.legend(fontsize=8, frameon=False)
    ax = axes[1]
    all_scores = np.concatenate([ref_scores, site_scores, [threshold]])
    bins = np.geomspace(max(all_scores.min(), 1e-3), max(all_scores.max(), 1e-2) * 1.05, 35)
    ax.hist(ref_scores, bins=bins, density=True, color=REF, alpha=0.6, label="reference")
    ax.hist(site_scores, bins=bins, density=True, color=SITE, alpha=0.55, label="site")
    ax.axvline(threshold, color=BAD, linestyle="--", linewidth=1.2, label="outlier threshold")
    ax.set_xscale("log")
    ax.set_yticks([])
    ax.set_xlabel("outlier score (distance from the reference in feature space)", color=INK)
    ax.set_title("How unusual each film is to the model", color=INK, fontsize=11)
    ax.legend(fontsize=8, frameon=False)
    return to_png(fig)


def mix_figure(classes, reference: dict | None, site: dict) -> bytes:
    """Share of films predicted as each class: reference vs site."""
    k = len(classes)
    fig, axes = new_figure(max(4.5, 1.3 * k + 2), 2.8)
    ax = axes[0]
    x = np.arange(k)
    width = 0.38
    if reference:
        ax.bar(x - width / 2, [reference.get(c, 0) for c in classes], width, color=REF, label="reference")
    ax.bar(x + (width / 2 if reference else 0), [site.get(c, 0) for c in classes], width, color=SITE, label="site")
    ax.set_xticks(x, classes)
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(lambda v, _pos: f"{v:.0%}")
    ax.set_title("Predicted class of each film", color=INK, fontsize=11)
    ax.legend(fontsize=8, frameon=False)
    return to_png(fig)
