"""Tiny runs for the evaluation tests: synthetic films, a split manifest and a briefly trained
cnn-small checkpoint in a run folder (``runs/<name>/checkpoints/best``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from cxrlab.config import PreprocessConfig
from cxrlab.data.manifest import write_manifest
from cxrlab.data.synthetic.generate import synthetic_film, to_uint8_film
from cxrlab.labels import builtin_schemes

SIZE = 48

#: (source, label, count): source "clinic" has COVID+Normal, "kids" Normal+Pneumonia (confounded).
LAYOUT = (("clinic", "COVID", 30), ("clinic", "Normal", 20), ("kids", "Normal", 20), ("kids", "Pneumonia", 30))


def make_images(root: Path, layout=LAYOUT, seed: int = 0, size: int = SIZE) -> pd.DataFrame:
    """Write PNG films and return manifest rows (two films per patient, split by patient)."""
    rng = np.random.default_rng(seed)
    rows = []
    for source, label, count in layout:
        for i in range(count):
            film = to_uint8_film(synthetic_film(label, rng, size))
            if source == "kids":  # a source cue: brighter films with a marker in the corner
                film = np.clip(film.astype(int) + 25, 0, 255).astype(np.uint8)
                film[2:8, 2:8] = 255
            path = root / source / label / f"{label}-{i:03d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(film).save(path)
            patient = f"{source}-{label}-{i // 2}"
            rows.append({"path": str(path), "label": label, "original_label": label, "source": source,
                         "patient_id": patient, "group": patient})
    df = pd.DataFrame(rows)
    order = np.random.default_rng(seed + 1).permutation(df["group"].unique())
    n = len(order)
    split = {g: "train" if i < 0.5 * n else "val" if i < 0.7 * n else "test" for i, g in enumerate(order)}
    df["split"] = df["group"].map(split)
    return df


def train_tiny(df: pd.DataFrame, classes, steps: int = 25, seed: int = 0, size: int = SIZE):
    """A cnn-small trained for a few steps on the train rows (so its predictions are not random)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny batches: threads only add overhead on a busy machine
    try:
        return _train(df, classes, steps, seed, size)
    finally:
        torch.set_num_threads(threads)


def _train(df, classes, steps, seed, size):
    import torch

    from cxrlab.data.preprocess import preprocess, to_model_input
    from cxrlab.io.images import read_image, to_uint8
    from cxrlab.models.registry import create_model

    torch.manual_seed(seed)
    cfg = PreprocessConfig(size=size)
    train = df[df["split"] == "train"]
    scheme = builtin_schemes()["3class"]
    x = to_model_input(np.stack([preprocess(to_uint8(read_image(p)), cfg) for p in train["path"]]), (0.5,), (0.25,))
    y = torch.tensor([scheme.index(lbl) for lbl in train["label"]])
    model = create_model("cnn-small", len(classes), drop_rate=0.0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    xt = torch.from_numpy(x)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(xt), y)
        loss.backward()
        opt.step()
    return model.eval()


def make_run(tmp: Path, name: str = "tiny", steps: int = 25, seed: int = 0, df: pd.DataFrame | None = None) -> Path:
    """A run folder with split_manifest.csv, history.csv and checkpoints/best."""
    from cxrlab.artifacts.checkpoint import make_meta, save_checkpoint

    scheme = builtin_schemes()["3class"]
    if df is None:
        df = make_images(tmp / "data", seed=seed)
    run = tmp / "runs" / name
    run.mkdir(parents=True, exist_ok=True)
    write_manifest(df, run / "split_manifest.csv")
    model = train_tiny(df, scheme.classes, steps=steps, seed=seed)
    meta = make_meta(architecture="cnn-small", classes=scheme.classes, label_scheme=scheme, in_chans=1,
                     preprocess=PreprocessConfig(size=SIZE), mean=(0.5,), std=(0.25,))
    save_checkpoint(run / "checkpoints" / "best", model, meta)
    pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [1.0, 0.7, 0.5], "val_loss": [1.1, 0.8, 0.7],
                  "val_balanced_accuracy": [0.5, 0.7, 0.8]}).to_csv(run / "history.csv", index=False)
    return run
