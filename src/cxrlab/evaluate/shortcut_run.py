"""``shortcut_check``: the shortcut section on its own (``cxrlab shortcut-check``), as JSON + HTML."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from cxrlab.data.manifest import read_manifest
from cxrlab.errors import ConfigError
from cxrlab.evaluate.bootstrap import resampling_units
from cxrlab.evaluate.calibration import apply_temperature
from cxrlab.evaluate.html import callout, esc, page, section
from cxrlab.evaluate.pipeline import jsonable, predict_set, run_folder
from cxrlab.evaluate.report_shortcut import shortcut_html
from cxrlab.evaluate.selection import fit_rows, map_targets, select_rows
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
    from cxrlab.train.checkpoint import load_checkpoint, resolve_checkpoint_dir

    run = Path(run)
    ckpt_dir = resolve_checkpoint_dir(run, which)
    model, meta = load_checkpoint(ckpt_dir)
    run_dir = run_folder(run, ckpt_dir)
    split_manifest = run_dir / "split_manifest.csv" if run_dir else None
    run_df = read_manifest(split_manifest) if split_manifest and split_manifest.exists() else None
    if manifest is None and run_df is None:
        raise ConfigError(f"{run}: the run has no split_manifest.csv; pass --manifest")
    df = read_manifest(manifest) if manifest is not None else run_df
    evalset = select_rows(df, meta.scheme(), split, source, run_df)
    result = predict_set(model, meta, evalset, cache_root, batch_size, log)
    classes = list(meta.classes)
    probs = apply_temperature(result.logits, meta.temperature)
    units, _ = resampling_units(result.df)
    train_sources = train_labels = None
    fit_df = fit_rows(run_df)
    if fit_df is not None and len(fit_df):
        mapped, _ = map_targets(fit_df, meta.scheme())
        train_sources, train_labels = mapped["source"].to_numpy(), mapped["class"].to_numpy()
    log(f"{evalset.name}: probing {len(result.df)} images for source cues")
    report = shortcut_report(result.features, probs, result.targets, result.df["source"].to_numpy(), units, classes,
                             train_sources, train_labels, seed)
    report["evaluated"] = {"name": evalset.name, "n_images": int(len(result.df)), "excluded": evalset.excluded,
                           "sources": {str(k): int(v) for k, v in result.df["source"].value_counts().items()}}
    out = Path(out) if out else (run_dir or ckpt_dir.parent) / "shortcut"
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "shortcut.json", json.dumps(jsonable(report), indent=2))
    write_text(out / "shortcut.html", shortcut_page(report, run_dir or ckpt_dir, meta.architecture))
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

