"""Adaptation without labels (AdaBN, Li et al. 2016): re-estimate every BatchNorm layer's running
mean and variance on a site's unlabeled films, keep every weight, export a new checksummed bundle.

Why it can help: a different scanner or processing shifts the statistics of every intermediate
feature map; BatchNorm then normalises with the training site's statistics and the features
drift. Re-estimating the statistics on the new site's films realigns them. Why it can hurt: the
statistics describe *whatever films they were estimated on*; estimated on a handful of films, or on
films of one diagnosis only, they describe that subset and the model loses the contrast between
classes. Hence the refusal below ``min_films`` and the warning when the model calls more than 90%
of the films one class. Needs torch and the run's checkpoint (an ONNX bundle has its BatchNorm
folded into the convolutions).
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from cxrlab.data.preprocess import to_model_input
from cxrlab.export.bundle import DEFAULT_TOLERANCE, ExportReport
from cxrlab.export.profile import class_mix, softmax
from cxrlab.site.inputs import SiteError, SiteFilms, load_site_films

METHOD = "AdaBN (Li et al. 2016): BatchNorm running mean/variance re-estimated on the site's unlabeled films"
ADAPTED_LIMITATION = (
    "Adapted to one site without labels (see 'adaptation'): the BatchNorm statistics describe that site's "
    "films. The temperature and operating thresholds were fitted on the training distribution and may no "
    "longer hold: re-fit them on a labelled sample of the site ('cxrlab recalibrate'), and do not use this "
    "bundle at other sites."
)


@dataclass(frozen=True)
class AdaptOptions:
    which: str = "best"  # checkpoint of the run
    min_films: int = 50  # refuse below this many readable films ...
    force: bool = False  # ... unless forced
    max_films: int = 0  # seeded sample of a bigger folder (0 = all)
    single_class_share: float = 0.9  # warn when the model predicts one class for more than this share
    batch_size: int = 64
    seed: int = 0
    workers: int = 2
    site_name: str = ""  # default: the folder's name
    exporter: str = "auto"
    tolerance: float = DEFAULT_TOLERANCE
    device: str = "cpu"  # where the statistics are re-estimated ("cuda" on a GPU machine); export runs on CPU


@dataclass(frozen=True)
class AdaptReport:
    export: ExportReport
    record: dict[str, Any]  # what the card's "adaptation" holds
    warnings: tuple[str, ...]
    checkpoint: Path | None = None


def batchnorm_layers(model) -> list:
    from torch import nn

    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


def adapt_batchnorm(model, views: np.ndarray, mean, std, in_chans: int, batch_size: int = 64, seed: int = 0):
    """A copy of ``model`` whose BatchNorm running statistics are the average over the site's films
    ``views`` ``(N, S, S)`` uint8 (shuffled into near-equal batches; every other layer in eval
    mode, so dropout stays off); returns ``(adapted model in eval mode, change summary)``."""
    import torch

    adapted = copy.deepcopy(model).eval()
    layers = batchnorm_layers(adapted)
    if not layers:
        raise SiteError(f"{type(model).__name__} has no BatchNorm layers: AdaBN does not apply to it")
    if len(views) < 2:
        raise SiteError("AdaBN needs at least 2 films")
    old = [(m.running_mean.detach().clone(), m.running_var.detach().clone()) for m in layers]
    momenta = [m.momentum for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches
        m.train()
    order = np.random.default_rng(seed).permutation(len(views))
    chunks = np.array_split(order, max(1, math.ceil(len(views) / max(int(batch_size), 2))))
    device = next(adapted.parameters()).device
    with torch.no_grad():
        for idx in chunks:
            x = to_model_input(np.asarray(views)[np.sort(idx)], mean, std, in_chans)
            adapted(torch.from_numpy(x).to(device))
    for m, momentum in zip(layers, momenta):
        m.momentum = momentum
        m.eval()
    return adapted.eval(), _change(old, layers)


def _change(old, layers) -> dict[str, Any]:
    """How far the statistics moved: mean |shift of the mean| in old standard deviations, and mean
    |log ratio| of the standard deviations, averaged over layers."""
    z, logs = [], []
    for (mu0, var0), m in zip(old, layers):
        sd0 = var0.clamp_min(1e-10).sqrt()
        z.append(float(((m.running_mean - mu0).abs() / sd0).mean()))
        logs.append(float((0.5 * (m.running_var.clamp_min(1e-10) / var0.clamp_min(1e-10)).log()).abs().mean()))
    return {"batchnorm_layers": len(layers), "mean_shift_in_sd": float(np.mean(z)),
            "mean_abs_log_std_ratio": float(np.mean(logs))}


def _predicted_mix(model, views, meta, batch_size: int) -> dict[str, float]:
    from cxrlab.evaluate.inference import run_model

    logits = run_model(model, views, meta.mean, meta.std, meta.in_chans, batch_size).logits
    return class_mix(softmax(logits, meta.temperature), meta.classes)


def _guard(site: SiteFilms, mix: dict[str, float], options: AdaptOptions) -> list[str]:
    n = len(site.films)
    warnings = []
    if n < options.min_films:
        message = (f"{site.origin}: only {n} readable films; AdaBN needs a representative mix of at least "
                   f"{options.min_films} films of the site (statistics estimated on a few films describe those "
                   f"films, not the site)")
        if not options.force:
            raise SiteError(message + "; pass --force (force=True) to adapt anyway")
        warnings.append(message + " (forced)")
    top = max(mix, key=mix.get)
    if mix[top] > options.single_class_share:
        warnings.append(f"the model calls {mix[top]:.0%} of these films {top}: if the folder really holds one class "
                        "(e.g. only one diagnosis), adaptation makes the model worse - it needs a representative "
                        "mix of the site's films; if it is a mixed set, this is a symptom of the shift")
    return warnings


def adapt_run(run: str | Path, films, out: str | Path, options: AdaptOptions = AdaptOptions(),
              checkpoint_out: str | Path | None = None, log: Callable[[str], None] = lambda _m: None) -> AdaptReport:
    """AdaBN-adapt the checkpoint of ``run`` to ``films`` (a folder, patterns, a file list, a manifest
    DataFrame or a FilmSet) and write the adapted bundle ``out`` (plus, when ``checkpoint_out`` is
    given, the adapted checkpoint folder, for ``cxrlab evaluate``)."""
    from cxrlab.artifacts.checkpoint import resolve_checkpoint_dir
    from cxrlab.artifacts.run_folder import RunFolder
    from cxrlab.export.bundle import export_model
    from cxrlab.export.card import LIMITATIONS, build_card
    from cxrlab.export.reference import Reference
    from cxrlab.models.loading import load_checkpoint

    folder = resolve_checkpoint_dir(run, options.which)
    model, meta = load_checkpoint(folder, device=options.device)
    site = load_site_films(films, meta.preprocess, options.max_films, options.seed, options.workers)
    views = site.films.views
    log(f"{site.origin}: {len(views)} readable films ({len(site.films.errors)} unreadable)")
    before = _predicted_mix(model, views, meta, options.batch_size)
    warnings = _guard(site, before, options)
    adapted, change = adapt_batchnorm(model, views, meta.mean, meta.std, meta.in_chans, options.batch_size, options.seed)
    after = _predicted_mix(adapted, views, meta, options.batch_size)
    adapted = adapted.cpu()
    name = options.site_name or (Path(site.origin).name if site.found and Path(site.origin).exists() else "site")
    record = {
        "method": METHOD, "site": name, "folder": site.origin,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "films_found": site.found, "films_used": len(views), "unreadable": len(site.films.errors),
        "changed": f"running mean and variance of {change['batchnorm_layers']} BatchNorm layers; every weight, the "
                   "temperature and the operating thresholds are unchanged",
        "statistics_shift": change, "predicted_mix_before": before, "predicted_mix_after": after,
        "warnings": warnings, "forced": bool(options.force and len(views) < options.min_films),
        "seed": options.seed, "batch_size": options.batch_size, "base_checkpoint": str(folder),
    }
    reference = Reference(site.films, {"kind": "adaptation", "what": f"the {len(views)} films of {name} this bundle "
                                       "was adapted on", "origin": site.origin, "films": len(views)})
    metrics = build_card(meta, folder).metrics
    card_updates = {"name": f"{RunFolder.of_checkpoint(folder).name}-adapted-{name}", "adaptation": record,
                    "limitations": [*LIMITATIONS, ADAPTED_LIMITATION],
                    "metrics": {**metrics, "note": "measured before adaptation, on the training distribution: "
                                                   "they do not describe the adapted model at this site"}}
    report = export_model(adapted, meta, folder, out, exporter=options.exporter, tolerance=options.tolerance,
                          reference=reference, card_updates=card_updates, seed=options.seed)
    saved = _save_checkpoint(checkpoint_out, adapted, meta, record) if checkpoint_out else None
    return AdaptReport(report, record, tuple(warnings), saved)


def _save_checkpoint(folder: str | Path, model, meta, record: dict) -> Path:
    from cxrlab.io.atomic import write_text
    from cxrlab.artifacts.checkpoint import save_checkpoint

    path = save_checkpoint(folder, model, replace(meta, created=record["date"]))
    write_text(Path(path) / "adaptation.json", json.dumps(record, indent=2) + "\n")
    return Path(path)
