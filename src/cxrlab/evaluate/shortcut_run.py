"""``shortcut_check``: the shortcut section on its own (``cxrlab shortcut-check``), as JSON + HTML."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from cxrlab.artifacts.run_folder import RunFolder
from cxrlab.evaluate.bootstrap import resampling_units
from cxrlab.evaluate.calibration import apply_temperature
from cxrlab.evaluate.context import load_context
from cxrlab.report.html import callout, esc, page, section
from cxrlab.evaluate.pipeline import jsonable, predict_set
from cxrlab.evaluate.report_shortcut import shortcut_html
from cxrlab.evaluate.selection import select_rows
from cxrlab.evaluate.shortcut import shortcut_report
from cxrlab.io.atomic import write_text


def shortcut_check(
    run: str | Path,
    manifest: str | Path | None = None,
    split: str | None = None,
    source: str | None = None,
    out: str | Path | None = None,
    cache_root: str | Path | None = None,
    seed: int = 0,
    batch_size: int = 64,
    which: str = "best",
    log: Callable[[str], None] = lambda _msg: None,
) -> Path:
    """Run the model on the chosen rows (default: the test split) and write ``shortcut.json`` and
    ``shortcut.html`` into ``out`` (default ``RUN/shortcut``); returns ``out``."""
    ctx = load_context(run, manifest, which)
    meta = ctx.meta
    evalset = select_rows(ctx.df, meta.label_scheme, split, source, ctx.run_df)
    result = predict_set(ctx.model, meta, evalset, cache_root, batch_size, log)
    probs = apply_temperature(result.logits, meta.temperature)
    units, _ = resampling_units(result.df)
    train_sources, train_labels = ctx.training_labels()
    log(f"{evalset.name}: probing {len(result.df)} images for source cues")
    report = shortcut_report(result.features, probs, result.targets, result.df["source"].to_numpy(), units,
                             list(meta.classes), train_sources, train_labels, seed)
    report["evaluated"] = {"name": evalset.name, "n_images": int(len(result.df)), "excluded": evalset.excluded,
                           "sources": {str(k): int(v) for k, v in result.df["source"].value_counts().items()}}
    out = Path(out) if out else RunFolder(ctx.run_dir or ctx.ckpt_dir.parent).shortcut
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "shortcut.json", json.dumps(jsonable(report), indent=2))
    write_text(out / "shortcut.html", shortcut_page(report, ctx.run_dir or ctx.ckpt_dir, meta.architecture))
    log(f"wrote {out / 'shortcut.html'}")
    return out


def shortcut_page(report: dict, run: Path, architecture: str) -> str:
    ev = report["evaluated"]
    n_src = len(ev["sources"])
    intro = (f"<p>{ev['n_images']:,} images ({esc(ev['name'])}) from {n_src} source(s): "
             + esc(", ".join(f"{s} ({n})" for s, n in sorted(ev["sources"].items()))) + ".</p>")
    if n_src < 2:
        intro += callout("warn", "One source only", "Source probes and within-source comparisons need images from "
                         "several sources; evaluate a split that pools sources (e.g. the test split).")
    body = section("shortcut", "Shortcut check", intro + shortcut_html(report))
    return page(f"Shortcut check: {run.name}", f"{architecture} · is the model recognising the disease or the source?",
                [("shortcut", "Shortcut check", body)])

