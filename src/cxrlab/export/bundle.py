"""``export_bundle(run, out)``: checkpoint -> verified ``model.cxrlab`` bundle (``export_model`` for a
model already in memory, e.g. one adapted to a site)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cxrlab.artifacts.bundle_card import BundleCard
from cxrlab.artifacts.run_folder import RunFolder
from cxrlab.data.preprocess import preprocess, to_model_input
from cxrlab.data.synthetic.generate import synthetic_film, to_uint8_film
from cxrlab.errors import CxrlabError
from cxrlab.explain.targets import find_target_layer
from cxrlab.export.bundle_file import PROFILE_FILE, read_bundle, sha256_hex, write_bundle
from cxrlab.export.card import build_card
from cxrlab.export.onnx_graph import OPSET, ExportError, Parity, bundle_graph, check_parity, export_onnx
from cxrlab.export.profile import build_profile, profile_bytes, run_session
from cxrlab.export.reference import DEFAULT_FILMS, Reference, training_reference

#: ONNX Runtime must match PyTorch this closely on the sample inputs (max |logit difference|).
DEFAULT_TOLERANCE = 1e-4


@dataclass(frozen=True)
class ExportReport:
    path: str
    exporter: str
    parity: Parity
    heatmaps: bool
    bytes: int
    sha256: str
    profile: str = ""  # what the training profile describes, or why there is none


def parity_inputs(meta, seed: int = 0) -> np.ndarray:
    """Sample model inputs: synthetic films of several patterns (through the real preprocessing)
    plus one pure-noise input."""
    rng = np.random.default_rng(seed)
    cfg = meta.preprocess
    films = [preprocess(to_uint8_film(synthetic_film(label, rng, 128)), cfg)
             for label in ("Normal", "COVID", "Pneumonia", "Lung_Opacity")]
    films.append(rng.integers(0, 256, (cfg.size, cfg.size), dtype=np.uint8))
    return to_model_input(np.stack(films), meta.mean, meta.std, meta.in_chans)


def export_bundle(run: str | Path, out: str | Path, which: str = "best", evaluation: str | Path | None = None,
                  exporter: str = "auto", tolerance: float = DEFAULT_TOLERANCE,
                  profile_films: int = DEFAULT_FILMS, seed: int = 0,
                  card_updates: dict[str, Any] | None = None) -> ExportReport:
    """Export the checkpoint of ``run`` to ONNX, check ONNX Runtime against PyTorch (fails above
    ``tolerance``), describe up to ``profile_films`` of the run's films in ``training_profile.json``
    (0 = no profile), write the bundle atomically and re-open it to verify the checksums."""
    from cxrlab.artifacts.checkpoint import resolve_checkpoint_dir
    from cxrlab.models.loading import load_checkpoint

    folder = resolve_checkpoint_dir(run, which)
    model, meta = load_checkpoint(folder)
    reference, why = training_reference(RunFolder.of_checkpoint(folder), meta.preprocess, profile_films, seed)
    return export_model(model, meta, folder, out, evaluation, exporter, tolerance, reference, why,
                        card_updates=card_updates, seed=seed)


def export_model(model, meta, folder: Path, out: str | Path, evaluation: str | Path | None = None,
                 exporter: str = "auto", tolerance: float = DEFAULT_TOLERANCE, reference: Reference | None = None,
                 no_reference: str = "", card_updates: dict[str, Any] | None = None, seed: int = 0) -> ExportReport:
    """Export an in-memory ``model`` (with its CheckpointMeta; ``folder`` = the checkpoint it came
    from, for the card) as a verified bundle; ``reference`` films become the training profile,
    ``card_updates`` are merged into the card last (e.g. an adaptation record)."""
    graph = bundle_graph(model, meta.in_chans, meta.input_size)
    onnx_bytes, used = export_onnx(graph, meta.in_chans, meta.input_size, exporter)
    parity = check_parity(onnx_bytes, graph, parity_inputs(meta), meta.temperature)
    worst = max(parity.cams_max_rel_diff or 0.0, parity.features_max_rel_diff or 0.0)
    if parity.logits_max_abs_diff > tolerance or worst > tolerance:
        raise ExportError(
            f"{folder}: ONNX Runtime disagrees with PyTorch (max |logit diff| {parity.logits_max_abs_diff:.2e}, "
            f"CAM/feature relative diff {worst:.2e}, tolerance {tolerance:.0e}); bundle not written"
        )
    card = build_card(meta, folder, Path(evaluation) if evaluation else None)
    layer = _explained_layer(model, meta)
    parts: dict[str, Any] = {}
    parts["outputs"] = {"logits": "raw scores; probabilities = softmax(logits / temperature)",
                        "cams": "per-class activation maps (N, classes, h, w); equal to Grad-CAM for this head"
                        if graph.with_cams else None,
                        "features": "pooled penultimate features (N, D), compared by 'cxrlab site-check'"
                        if graph.with_features else None}
    parts["heatmap"] = {"available": graph.with_cams, "method": "CAM from the exported graph (= Grad-CAM)"
                        if graph.with_cams else "none in the bundle: the head is not pool+linear; use 'cxrlab explain'"
                        if layer else "none: the model has no feature map Grad-CAM can use",
                        "layer": layer}
    parts["export"] = {"exporter": used, "opset": OPSET, "tolerance": tolerance, "parity": asdict(parity)}
    extras = {}
    if reference is not None:
        profile = profile_of(onnx_bytes, meta, reference, seed)
        extras[PROFILE_FILE] = profile_bytes(profile)
        parts["training_profile"] = {"file": PROFILE_FILE, "films": profile["films"],
                                     "reference": reference.description.get("kind"),
                                     "features": profile["features"] is not None}
    else:
        parts["training_profile"] = {"file": None, "note": no_reference or "no reference films given"}
    card = BundleCard.from_dict({**card.to_dict(), **parts, **(card_updates or {})})
    path = write_bundle(out, onnx_bytes, card, extras)
    read_bundle(path)  # verify what was written
    data = Path(path).read_bytes()
    described = (f"{parts['training_profile']['films']} {reference.description.get('kind')} films"
                 + ("" if parts["training_profile"]["features"] else " (no feature comparison)")) if reference else \
        f"none ({parts['training_profile']['note']})"
    return ExportReport(str(path), used, parity, graph.with_cams, len(data), sha256_hex(data), described)


def profile_of(onnx_bytes: bytes, meta, reference: Reference, seed: int = 0) -> dict[str, Any]:
    """The training profile of ``reference``'s films, computed through the exported graph."""
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    outputs = run_session(session, reference.films.views, meta.mean, meta.std, meta.in_chans)
    return build_profile(reference.films, outputs, meta.classes, meta.temperature, reference.description, seed)


def _explained_layer(model, meta) -> str | None:
    """The Grad-CAM layer's name, or ``None`` for a model without a map Grad-CAM can use."""
    try:
        return find_target_layer(model, meta.in_chans, meta.input_size).name
    except CxrlabError:
        return None
