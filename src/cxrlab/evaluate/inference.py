"""Images in, logits (and penultimate features) out — the same preprocessing as training.

Images come from the preprocessing cache when it exists (``cxrlab.data.cache.store``), otherwise they are
decoded and preprocessed here with the checkpoint's own :class:`PreprocessConfig`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cxrlab.config import PreprocessConfig
from cxrlab.data.model_view import read_view
from cxrlab.data.preprocess import row_boxes, to_model_input
from cxrlab.errors import ImageReadError


@dataclass(frozen=True)
class LoadedSet:
    """Preprocessed uint8 images ``(N, S, S)`` aligned with the rows of a manifest slice."""

    images: np.ndarray
    ok: np.ndarray  # bool (N,): False = unreadable (excluded from evaluation)
    errors: dict[int, str]


def decode_images(df: pd.DataFrame, cfg: PreprocessConfig) -> LoadedSet:
    """Decode + preprocess every row (the slow path, used when there is no cache)."""
    images = np.zeros((len(df), cfg.size, cfg.size), dtype=np.uint8)
    ok = np.zeros(len(df), dtype=bool)
    errors: dict[int, str] = {}
    for i, (path, box) in enumerate(zip(df["path"], row_boxes(df, cfg))):
        try:
            images[i] = read_view(path, cfg, box=box)
            ok[i] = True
        except ImageReadError as exc:
            errors[i] = str(exc)
    return LoadedSet(images, ok, errors)


def load_images(df: pd.DataFrame, cfg: PreprocessConfig, cache_root: str | Path | None = None) -> LoadedSet:
    """Preprocessed images of ``df``'s rows: from the cache under ``cache_root`` (built or reused
    there) when the cache module is available, else decoded directly."""
    df = df.reset_index(drop=True)
    if cache_root is not None:
        try:
            cache = importlib.import_module("cxrlab.data.cache.store")
        except ImportError:
            cache = None
        if cache is not None:
            store = cache.open_cache(df, cache_root, cfg)
            if store is None:
                store = cache.build_cache(df, cache_root, cfg, progress=False)
            return LoadedSet(np.asarray(store.images), np.asarray(store.ok, dtype=bool), dict(store.errors))
    return decode_images(df, cfg)


@dataclass(frozen=True)
class ModelOutputs:
    logits: np.ndarray  # (N, K) float64
    features: np.ndarray | None  # (N, D) penultimate features, when the model exposes them


def _forward(model, x):
    """Logits and pre-logit features (timm models and cnn-small both have forward_features/head)."""
    if hasattr(model, "forward_features") and hasattr(model, "forward_head"):
        feats = model.forward_features(x)
        return model.forward_head(feats), model.forward_head(feats, pre_logits=True)
    return model(x), None


def run_model(model, images: np.ndarray, mean, std, in_chans: int = 1, batch_size: int = 64) -> ModelOutputs:
    """Raw logits (temperature not applied) and penultimate features, in batches, on CPU."""
    import torch

    device = next(model.parameters()).device
    logits, features = [], []
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            batch = to_model_input(np.asarray(images[start:start + batch_size]), mean, std, in_chans)
            out, feats = _forward(model, torch.from_numpy(batch).to(device))
            logits.append(out.float().cpu().numpy())
            if feats is not None:
                features.append(feats.float().flatten(1).cpu().numpy())
    k = getattr(model, "num_classes", None) or (logits[0].shape[1] if logits else 0)
    all_logits = np.concatenate(logits).astype(np.float64) if logits else np.zeros((0, k))
    all_feats = np.concatenate(features) if features else None
    return ModelOutputs(all_logits, all_feats)
