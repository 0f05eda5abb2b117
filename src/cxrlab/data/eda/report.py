"""Exploratory data analysis of a manifest: one self-contained HTML report.

Sections: overview, class counts per source and per split, image size and bit depth, intensity
(mean vs std per class, brightness/contrast histograms, per-source intensity), random samples per
class and per source (sources often differ visibly - the classic shortcut), and the leakage-audit
summary when ``audit_dir/summary.json`` exists.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd

from cxrlab.data.eda import plots
from cxrlab.data.eda.samples import sample_thumbs
from cxrlab.errors import ConfigError
from cxrlab.io.atomic import write_text
from cxrlab.report.html import esc, figure_img, fmt_value, frame_table, page, section, thumb_grid, value_cards

_SPLIT_ORDER = ("train", "val", "test", "external")
_MAX_EMBED_BYTES = 8_000_000


def make_eda_report(
    df: pd.DataFrame,
    out_html: str | Path,
    *,
    audit_dir: str | Path | None = None,
    samples_per_class: int = 8,
    seed: int = 0,
) -> Path:
    """Write the EDA report for manifest ``df`` to ``out_html`` (atomically) and return its path."""
    for column in ("path", "label", "source"):
        if column not in df.columns:
            raise ConfigError(f"manifest lacks column '{column}', needed for the EDA report")
    if df.empty:
        raise ConfigError("manifest has no rows: nothing to report")
    df = df.reset_index(drop=True)
    classes = sorted(df["label"].astype(str).unique())
    colors = plots.group_colors(classes)
    subtitle = (f"{len(df):,} images, {df['source'].nunique()} sources, {len(classes)} classes - "
                f"generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    parts = [
        ("overview", "Overview", _overview(df, classes)),
        ("classes", "Class counts", _class_counts(df, colors)),
        ("sizes", "Image size and bit depth", _sizes(df)),
        ("intensity", "Intensity", _intensity(df, classes, colors)),
        ("samples", "Random samples", _samples(df, samples_per_class, seed)),
        ("audit", "Leakage audit", _duplicates(df) + _audit(Path(audit_dir) if audit_dir else None)),
    ]
    html = page("cxrlab - dataset report", subtitle, [(a, h, section(a, h, body)) for a, h, body in parts])
    out = Path(out_html)
    write_text(out, html)
    return out


def _has(df: pd.DataFrame, column: str) -> bool:
    return column in df.columns and (df[column].astype(str).str.strip() != "").any()


def _overview(df: pd.DataFrame, classes: list[str]) -> str:
    items: list[tuple[str, object]] = [("images", len(df)), ("sources", df["source"].nunique()),
                                       ("classes", len(classes))]
    if _has(df, "patient_id"):
        items.append(("known patient ids", df.loc[df["patient_id"].astype(str) != "", "patient_id"].nunique()))
    if _has(df, "split"):
        items.append(("splits", df.loc[df["split"].astype(str) != "", "split"].nunique()))
    if _has(df, "dup_group"):
        items.append(("images in duplicate groups", int((df["dup_group"].astype(str) != "").sum())))
    missing = [c for c in ("width", "height", "bits", "mean", "std", "split") if not _has(df, c)]
    note = (f'<p class="note">Not in this manifest (sections skipped): {esc(", ".join(missing))}.</p>'
            if missing else "")
    return value_cards(items) + note


def _crosstab(df: pd.DataFrame, rows: str, order: list[str] | None = None) -> pd.DataFrame:
    table = pd.crosstab(df[rows].astype(str), df["label"].astype(str))
    if order:
        table = table.reindex([o for o in order if o in table.index] + [i for i in table.index if i not in order])
    table.index.name = rows
    return table


def _with_totals(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    out["total"] = out.sum(axis=1)
    out.loc["total"] = out.sum(axis=0)
    return out.astype(int)


def _class_counts(df: pd.DataFrame, colors: dict) -> str:
    by_source = _crosstab(df, "source")
    parts = ["<h3>Per source</h3>", frame_table(_with_totals(by_source), total_row=True),
             figure_img(plots.counts_bar(by_source, colors, "Images per source, by class"), "class counts per source")]
    share = by_source.div(by_source.sum(axis=1), axis=0).mul(100).round(1)
    parts += ['<p class="note">Share of each class within a source (%). A class that comes mostly from one '
              "source lets a model learn the source instead of the disease.</p>", frame_table(share)]
    if _has(df, "split"):
        with_split = df[df["split"].astype(str) != ""]
        by_split = _crosstab(with_split, "split", list(_SPLIT_ORDER))
        parts += ["<h3>Per split</h3>", frame_table(_with_totals(by_split), total_row=True),
                  figure_img(plots.counts_bar(by_split, colors, "Images per split, by class"), "class counts per split")]
        src_split = pd.crosstab(with_split["source"].astype(str), with_split["split"].astype(str))
        src_split = src_split[[s for s in _SPLIT_ORDER if s in src_split] + [s for s in src_split if s not in _SPLIT_ORDER]]
        src_split.index.name = "source"
        parts += ["<h3>Sources per split</h3>", frame_table(src_split)]
    else:
        parts.append('<p class="note">No split yet: run <code>cxrlab split</code> to add one.</p>')
    return "".join(parts)


def _sizes(df: pd.DataFrame) -> str:
    parts = []
    if _has(df, "width") and _has(df, "height"):
        sources = sorted(df["source"].astype(str).unique())
        parts.append(figure_img(plots.size_figure(df, sources), "image size by source"))
        stats = df.assign(width=pd.to_numeric(df["width"], errors="coerce"),
                          height=pd.to_numeric(df["height"], errors="coerce"))
        summary = stats.groupby("source")[["width", "height"]].agg(["min", "median", "max"]).astype(int)
        summary.columns = [f"{a} {b}" for a, b in summary.columns]
        parts.append(frame_table(summary))
    if _has(df, "bits") or _has(df, "format"):
        bits = df["bits"].astype(str) + "-bit " if _has(df, "bits") else ""
        fmt = df["format"].astype(str) if _has(df, "format") else ""
        kinds = pd.Series(bits + fmt, index=df.index).str.strip()
        counts = kinds.value_counts()
        parts.append(figure_img(plots.bits_bar(counts), "bit depth distribution"))
        table = pd.crosstab(df["source"].astype(str), kinds)
        table.index.name = "source"
        parts.append(frame_table(table))
    return "".join(parts) or '<p class="note">The manifest has no width/height/bits columns.</p>'


def _intensity(df: pd.DataFrame, classes: list[str], colors: dict) -> str:
    if not (_has(df, "mean") and _has(df, "std")):
        return '<p class="note">The manifest has no mean/std columns (written by <code>cxrlab index</code>).</p>'
    stats = df.assign(mean=pd.to_numeric(df["mean"], errors="coerce"), std=pd.to_numeric(df["std"], errors="coerce"))
    per_source = stats.groupby("source")[["mean", "std"]].median().round(3)
    per_source.columns = ["median brightness (mean)", "median contrast (std)"]
    sources = sorted(df["source"].astype(str).unique())
    return "".join([
        '<p class="note">Each point is one image (mean and standard deviation of its 8-bit pixels, 0-1). '
        "Classes that separate here can be told apart without looking at the lungs.</p>",
        "<h3>Mean vs std per class</h3>",
        figure_img(plots.mean_std_scatter(stats, "label", classes, colors), "mean vs std per class"),
        "<h3>Brightness and contrast per class</h3>",
        figure_img(plots.intensity_histograms(stats, classes, colors), "brightness and contrast histograms"),
        '<p class="note">Classes with fewer than 30 images are left out of the histograms.</p>',
        "<h3>Per source</h3>", frame_table(per_source),
        figure_img(plots.mean_std_scatter(stats, "source", sources, plots.group_colors(sources, "Set2")),
                   "mean vs std per source"),
    ])


def _samples(df: pd.DataFrame, per_group: int, seed: int) -> str:
    columns = per_group if per_group <= 10 else (per_group + 1) // 2 if per_group <= 20 else 10
    parts = [f'<p class="note">{per_group} random images per group (seed {seed}); hover for the file name.</p>',
             "<h3>By class</h3><p class=\"note\">Caption: source.</p>"]
    for cls, thumbs in sample_thumbs(df, "label", "source", per_group, seed).items():
        parts += [f"<h3>{esc(cls)}</h3>", thumb_grid(thumbs, columns)]
    parts.append("<h3>By source</h3><p class=\"note\">Caption: class. Sources often differ visibly (size, "
                 "borders, text, exposure) - a model can learn those instead of the disease.</p>")
    for src, thumbs in sample_thumbs(df, "source", "label", per_group, seed + 1).items():
        parts += [f"<h3>{esc(src)}</h3>", thumb_grid(thumbs, columns)]
    return "".join(parts)


def _duplicates(df: pd.DataFrame) -> str:
    """Duplicate groups recorded in the manifest (``dup_group``, written by the audit): how many span
    several sources, splits or labels."""
    if not _has(df, "dup_group"):
        return ""
    dups = df[df["dup_group"].astype(str) != ""]
    groups = dups.groupby("dup_group")
    spans = {"duplicate groups": groups.ngroups, "images in them": len(dups),
             "groups across sources": int((groups["source"].nunique() > 1).sum()),
             "groups with disagreeing labels": int((groups["label"].nunique() > 1).sum())}
    if _has(dups, "split"):
        spans["groups across splits"] = int((groups["split"].nunique() > 1).sum())
    return "<h3>Duplicate groups in the manifest</h3>" + value_cards(list(spans.items()))


def _audit(audit_dir: Path | None) -> str:
    summary_path = audit_dir / "summary.json" if audit_dir else None
    if summary_path is None or not summary_path.exists():
        return '<p class="note">No audit found. Run <code>cxrlab audit</code> and rebuild this report.</p>'
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f'<p class="warn">{esc(summary_path)}: unreadable ({esc(exc)}).</p>'
    if not isinstance(summary, dict):
        return f'<p class="warn">{esc(summary_path)}: expected a JSON object.</p>'
    scalars = [(str(k).replace("_", " "), v) for k, v in summary.items() if isinstance(v, (int, float, str, bool))]
    rows = [f'<tr><td>{esc(k)}</td><td class="num">{esc(fmt_value(v))}</td></tr>' for k, v in scalars]
    parts = [f'<p class="note">From {esc(summary_path)}.</p>',
             f'<table><thead><tr><th>finding</th><th class="num">value</th></tr></thead>'
             f"<tbody>{''.join(rows)}</tbody></table>"]
    for key, value in summary.items():
        if isinstance(value, (list, dict)) and value:
            parts += [f"<h3>{esc(str(key).replace('_', ' '))}</h3>", _nested(value)]
    for sheet in sorted(audit_dir.glob("*.png"))[:4]:  # e.g. the audit's contact sheet of near-duplicate pairs
        if sheet.stat().st_size <= _MAX_EMBED_BYTES:
            parts += [f"<h3>{esc(sheet.name)}</h3>", figure_img(sheet.read_bytes(), sheet.stem)]
    files = sorted(p.name for p in audit_dir.iterdir() if p.is_file() and p.suffix in (".csv", ".html"))
    if files:
        parts.append(f'<p class="note">Details in {esc(audit_dir)}: {esc(", ".join(files))}.</p>')
    return "".join(parts)


def _nested(value: list | dict, limit: int = 50) -> str:
    """Small lists/dicts from the audit summary as a table (records) or a list."""
    if isinstance(value, dict):
        return frame_table(pd.DataFrame({"value": [json.dumps(v) if isinstance(v, (list, dict)) else v
                                                  for v in value.values()]}, index=list(value.keys())))
    if all(isinstance(v, dict) for v in value):
        frame = pd.DataFrame(value[:limit])
        return frame_table(frame.set_index(frame.columns[0])) if len(frame.columns) else ""
    items = "".join(f"<li>{esc(v)}</li>" for v in value[:limit])
    more = f"<li>... {len(value) - limit} more</li>" if len(value) > limit else ""
    return f"<ul>{items}{more}</ul>"
