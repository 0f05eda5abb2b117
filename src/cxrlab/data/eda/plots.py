"""EDA figures as PNG bytes. Uses matplotlib's object API with the Agg canvas (no pyplot, no global
rcParams changes: styling is applied inside ``matplotlib.rc_context``/style contexts only)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd

from cxrlab.report.plots import to_png

_STYLE = {
    "font.size": 9, "axes.titlesize": 10, "axes.titleweight": "bold", "axes.labelsize": 9,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3,
    "legend.fontsize": 8, "legend.frameon": False, "figure.dpi": 100,
}


def group_colors(groups: list[str], palette: str = "tab10") -> dict[str, tuple]:
    """One stable colour per class (or source), shared by every figure of a report."""
    from matplotlib import colormaps

    cmap = colormaps[palette]
    return {g: cmap(i % cmap.N) for i, g in enumerate(groups)}


@contextmanager
def _figure(width: float, height: float) -> Iterator:
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(width, height), layout="constrained")
        FigureCanvasAgg(fig)
        yield fig


def counts_bar(table: pd.DataFrame, colors: dict[str, tuple], title: str) -> bytes:
    """Horizontal stacked bars: one bar per row of ``table`` (source or split), stacked by class."""
    height = 1.5 + 0.42 * len(table)
    with _figure(9, height) as fig:
        ax = fig.add_subplot()
        left = np.zeros(len(table))
        names = [str(i) for i in table.index]
        for cls in table.columns:
            values = table[cls].to_numpy(dtype=float)
            ax.barh(names, values, left=left, color=colors.get(cls, "gray"), label=cls, height=0.7)
            left += values
        for y, total in enumerate(left):
            ax.text(total, y, f" {int(total):,}", va="center", fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, left.max() * 1.12 if left.size and left.max() > 0 else 1)
        ax.set_xlabel("images")
        ax.set_title(title, loc="left")
        ax.grid(axis="y", visible=False)
        fig.legend(ncols=min(len(table.columns), 7), loc="outside lower center")
        return to_png(fig)


def size_figure(df: pd.DataFrame, sources: list[str]) -> bytes:
    """Width x height scatter per source, and a histogram of the short side."""
    from matplotlib import colormaps

    cmap = colormaps["Set2"]
    w = pd.to_numeric(df["width"], errors="coerce")
    h = pd.to_numeric(df["height"], errors="coerce")
    with _figure(10, 3.8) as fig:
        ax1, ax2 = fig.subplots(1, 2)
        sizes = pd.DataFrame({"source": df["source"].astype(str), "w": w, "h": h}).dropna()
        counts = sizes.groupby(["source", "w", "h"]).size().rename("n").reset_index()
        for src in sorted(sources, key=lambda s: -int((df["source"] == s).sum())):
            sel = counts[counts["source"] == src]
            ax1.scatter(sel["w"], sel["h"], s=6 + 3 * np.sqrt(sel["n"]), alpha=0.5, color=cmap(sources.index(src) % 8),
                        label=f"{src} (n={int(sel['n'].sum()):,})", edgecolors="none")
        ax1.set_xlabel("width (px)")
        ax1.set_ylabel("height (px)")
        ax1.set_title("Image size by source (marker area ~ number of images)", loc="left")
        for handle in ax1.legend().legend_handles:
            handle.set_alpha(1)
            handle.set_sizes([20])
        short = np.minimum(w, h).dropna()
        ax2.hist([short[(df["source"] == s).to_numpy()[short.index]] for s in sources], bins=30, stacked=True,
                 color=[cmap(i % 8) for i in range(len(sources))], label=sources)
        ax2.set_xlabel("short side (px)")
        ax2.set_ylabel("images")
        ax2.set_title("Short side", loc="left")
        return to_png(fig)


def mean_std_scatter(df: pd.DataFrame, column: str, groups: list[str], colors: dict[str, tuple]) -> bytes:
    """Image mean vs standard deviation (0-1 intensity), one panel per value of ``column`` (class or
    source), that group in colour over all images in gray."""
    n = len(groups)
    cols = min(n, 4)
    rows = (n + cols - 1) // cols
    mean = pd.to_numeric(df["mean"], errors="coerce")
    std = pd.to_numeric(df["std"], errors="coerce")
    with _figure(2.6 * cols + 0.6, 2.5 * rows + 0.4) as fig:
        axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)).ravel()
        for ax, group in zip(axes, groups):
            ax.scatter(mean, std, s=2, color="#d8d8d8", rasterized=True)
            mask = (df[column].astype(str) == group).to_numpy()
            ax.scatter(mean[mask], std[mask], s=4, alpha=0.5, color=colors[group], rasterized=True)
            ax.set_title(f"{group} (n={int(mask.sum()):,})", loc="left", fontsize=9)
        for ax in axes[n:]:
            ax.set_visible(False)
        fig.supxlabel("image mean (0-1)")
        fig.supylabel("image std (0-1)")
        return to_png(fig)


def intensity_histograms(df: pd.DataFrame, classes: list[str], colors: dict[str, tuple], min_count: int = 30) -> bytes:
    """Brightness (mean) and contrast (std) density histograms, one line per class with at least
    ``min_count`` images (smaller classes give noisy spikes that hide the rest)."""
    with _figure(10, 3.7) as fig:
        axes = fig.subplots(1, 2)
        for ax, column, title in zip(axes, ("mean", "std"), ("Brightness (image mean)", "Contrast (image std)")):
            values = pd.to_numeric(df[column], errors="coerce")
            finite = values.dropna()
            if finite.empty:
                continue
            bins = np.linspace(finite.min(), finite.max() + 1e-9, 40)
            for cls in classes:
                sel = values[(df["label"] == cls).to_numpy()].dropna()
                if len(sel) >= min(min_count, len(finite)):
                    ax.hist(sel, bins=bins, density=True, histtype="step", linewidth=1.6, color=colors[cls],
                            label=f"{cls} (n={len(sel):,})")
            ax.set_title(title, loc="left")
            ax.set_xlabel(f"{column} (0-1)")
            ax.set_ylabel("density")
        fig.legend(*axes[0].get_legend_handles_labels(), ncols=4, loc="outside lower center")
        return to_png(fig)


def bits_bar(counts: pd.Series) -> bytes:
    """Bar chart of bit depth / format combinations."""
    with _figure(5, 0.9 + 0.35 * len(counts)) as fig:
        ax = fig.add_subplot()
        ax.barh([str(i) for i in counts.index], counts.to_numpy(), color="#4c72b0", height=0.6)
        for y, v in enumerate(counts.to_numpy()):
            ax.text(v, y, f" {int(v):,}", va="center", fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, counts.max() * 1.15 if len(counts) else 1)
        ax.set_xlabel("images")
        ax.set_title("Bit depth / format", loc="left")
        ax.grid(axis="y", visible=False)
        return to_png(fig)
