"""The model card (``card.json``): everything a user of the bundle needs to know, in one JSON.

Built from the checkpoint's metadata (with the run's calibration), the run folder's
``split_manifest.csv`` (training data summary) and, when present, the evaluation's summary
(:func:`cxrlab.artifacts.evaluation.read_evaluation`: headline metrics with CIs).

The card is a :class:`~cxrlab.artifacts.bundle_card.BundleCard` (its JSON layout is described
there); the exporter adds the graph's parts (``outputs``, ``heatmap``, ``export``,
``training_profile``) to its ``extra``.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cxrlab import __version__
from cxrlab.artifacts.bundle_card import BundleCard
from cxrlab.artifacts.checkpoint_meta import CheckpointMeta
from cxrlab.artifacts.evaluation import read_evaluation
from cxrlab.artifacts.run_folder import RunFolder

INTENDED_USE = (
    "RESEARCH AND EDUCATION ONLY. This model is not a medical device and has not been cleared or "
    "validated for clinical use: do not use it to diagnose, triage, or make any decision about a patient."
)

LIMITATIONS = (
    "Shortcut risk: public COVID chest X-ray collections mix hospitals, countries, ages and devices "
    "per class, so a classifier can score well by recognising the source (text markers, borders, "
    "exposure, paediatric anatomy, compression) instead of disease. Check the evaluation's shortcut "
    "report and its external-source results before trusting any number on this card.",
    "Metrics were measured on the data named below; performance on other hospitals, scanners, "
    "populations or disease prevalence can be much lower.",
    "Probabilities are calibrated (temperature scaling) and the operating threshold chosen on the "
    "validation split of the training distribution; both shift with prevalence and source.",
    "Measured failure modes of the default recipe on public sources it never saw (leave-one-source-out, "
    "BENCHMARKS.md): adult viral/bacterial pneumonias from the same kind of source as the COVID "
    "collections were called COVID (78-87 % at the operating point over three seeds); unseen adult "
    "tuberculosis and pneumonia films 21-62 % at the operating point over three seeds (2-32 % "
    "at the arg-max), unseen NIH adult films 6-17 % over three seeds, and 29-85 % of an unseen "
    "source's adult pneumonias were found; unseen COVID sensitivity 0.85-0.94 (the training seed "
    "alone moved it by 0.06); adult pneumonia vs normal AUROC 0.53-0.68. Run "
    "'cxrlab loso --repeats 3' on your own sources and export with "
    "--loso to put this model's own held-out results in 'external_validation'.",
    "Frontal (PA/AP) chest radiographs only; lateral views, CT, other body parts and non-X-ray images "
    "get a confident but meaningless answer.",
    "Heatmaps (class activation maps) show which regions drove the score, not where disease is; they "
    "are coarse (1/32 of the input resolution for most backbones).",
)


def build_card(meta: CheckpointMeta, checkpoint_dir: Path, evaluation: Path | None = None) -> BundleCard:
    """The card for ``meta`` (CheckpointMeta); ``evaluation`` = a metrics.json (default: the run's)."""
    run = RunFolder.of_checkpoint(checkpoint_dir)
    evaluation = evaluation if evaluation is not None else run.metrics
    return BundleCard(
        name=run.name,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        cxrlab_version=__version__,
        intended_use=INTENDED_USE,
        limitations=LIMITATIONS,
        architecture=meta.architecture,
        classes=meta.classes,
        label_scheme=meta.label_scheme,
        input_size=meta.input_size,
        in_chans=meta.in_chans,
        preprocess=meta.preprocess,
        mean=meta.mean,
        std=meta.std,
        pretrained_weights=dict(meta.weights_origin),
        temperature=float(meta.temperature or 1.0),
        thresholds=_finite(meta.thresholds),
        metrics={"validation_during_training": _finite(meta.metrics), "evaluation": _evaluation(evaluation)},
        training_data=training_data(run.split_manifest),
        source={"checkpoint": str(checkpoint_dir), "epoch": meta.epoch, "git_commit": meta.git_commit,
                "checkpoint_created": meta.created, "versions": dict(meta.versions)},
    )


def training_data(split_manifest: Path) -> dict[str, Any] | None:
    """Counts per split, class and source from the run's ``split_manifest.csv`` (None if absent)."""
    if not split_manifest.exists():
        return None
    import pandas as pd

    df = pd.read_csv(split_manifest, dtype=str, keep_default_na=False)
    out: dict[str, Any] = {"file": str(split_manifest), "images": int(len(df))}
    if "patient_id" in df:
        out["patients"] = int(df.loc[df["patient_id"] != "", "patient_id"].nunique())
    for column, key in (("split", "by_split"), ("source", "by_source"), ("population", "by_population")):
        if column in df:
            out[key] = {str(k): int(v) for k, v in df[column].value_counts().sort_index().items()}
    if "split" in df and "label" in df:
        table = df.groupby(["split", "label"]).size()
        out["labels_by_split"] = {s: {lab: int(n) for (sp, lab), n in table.items() if sp == s}
                                  for s in sorted(df["split"].unique())}
    return out


def _evaluation(path: Path) -> dict[str, Any] | None:
    """The headline numbers (value + 95% CI) of an evaluation's metrics.json, if there is one."""
    summary = read_evaluation(path)
    return None if summary is None else _finite(summary.to_dict())


def _finite(obj: Any) -> Any:
    """JSON-safe copy: NaN/inf -> None (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
