"""Accuracy of the default training recipe on real data (3-class COVID / Normal / Pneumonia).

Prepare the manifest first (patient- and duplicate-aware split), e.g.::

    cxrlab index ../shared/cxr-data --out work/manifest.csv
    cxrlab audit --manifest work/manifest.csv      # dup_group (exact + near duplicates)
    cxrlab split --manifest work/manifest.csv      # group = patient U duplicate component -> split

then::

    python benchmarks/bench_train_accuracy.py --manifest work/manifest.csv --models cnn-small resnet18 \
        --minutes 60 --size 224

Each model trains from scratch with the default recipe (``TrainConfig()`` + the options given) within
``--minutes`` wall-clock minutes; its best checkpoint (val macro-F1) is then scored once on the test
split: macro-F1, COVID sensitivity / precision, per-class recall, macro AUC. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader


def score_test(run_dir: Path, cache_dir: str) -> dict:
    """Test-split metrics of the run's best checkpoint (sklearn), using the run's own rows."""
    from sklearn.metrics import classification_report, f1_score, roc_auc_score

    from cxrlab.data.cache.store import build_cache
    from cxrlab.data.torch_dataset import CachedImageDataset
    from cxrlab.data.manifest import read_manifest
    from cxrlab.models.loading import load_checkpoint

    model, meta = load_checkpoint(run_dir)
    rows = read_manifest(run_dir / "split_manifest.csv")
    rows = rows[rows["split"] == "test"].reset_index(drop=True)
    scheme = meta.label_scheme
    targets = np.array([scheme.index(label) for label in rows["label"]])
    store = build_cache(rows, cache_dir, meta.preprocess, workers=2, progress=False)
    ok = np.asarray(store.ok, dtype=bool)
    ds = CachedImageDataset(store.images, np.flatnonzero(ok), targets[ok], meta.mean, meta.std, meta.in_chans)
    probs = []
    with torch.no_grad():
        for x, _ in DataLoader(ds, batch_size=128):
            probs.append(torch.softmax(model(x), 1).numpy())
    probs, y = np.concatenate(probs), targets[ok]
    pred = probs.argmax(1)
    report = classification_report(y, pred, labels=range(len(scheme.classes)), target_names=scheme.classes,
                                   output_dict=True, zero_division=0)
    covid = scheme.classes.index("COVID") if "COVID" in scheme.classes else 0
    return {
        "test_images": int(len(y)),
        "macro_f1": float(f1_score(y, pred, average="macro")),
        "accuracy": float(report["accuracy"]),
        "auc_macro_ovr": float(roc_auc_score(y, probs, multi_class="ovr", average="macro")),
        "covid_sensitivity": float(report[scheme.classes[covid]]["recall"]),
        "covid_precision": float(report[scheme.classes[covid]]["precision"]),
        "recall": {c: float(report[c]["recall"]) for c in scheme.classes},
    }


def train_one(manifest: Path, model: str, args) -> dict:
    from cxrlab.train.config import load_train_config, with_options
    from cxrlab.train.fit import fit

    name = f"bench-{model}-{args.size}-{int(time.time())}"
    cfg = load_train_config(args.config, args.set)
    cfg = with_options(cfg, manifest=str(manifest), model=model, size=args.size, max_minutes=args.minutes,
                       epochs=args.epochs, name=name, runs_dir=str(args.runs_dir), progress=False)
    cfg = with_options(cfg, cache_dir=str(args.cache_dir))
    start = time.perf_counter()
    run = fit(cfg)
    minutes = (time.perf_counter() - start) / 60
    history = json.loads((run / "history.json").read_text())
    result = {"model": model, "size": args.size, "run": str(run), "train_minutes": round(minutes, 1),
              "epochs_done": len(history), "best_val_macro_f1": max(r["val_macro_f1"] or 0 for r in history)}
    result.update(score_test(run, str(args.cache_dir)))
    return result


def markdown(results: list[dict]) -> str:
    classes = list(results[0]["recall"]) if results else []
    head = ["model", "size", "epochs", "train min", "test macro-F1", "COVID sens.", "COVID prec.", "AUC"]
    lines = ["| " + " | ".join(head + [f"recall {c}" for c in classes]) + " |",
             "|" + "---|" * (len(head) + len(classes))]
    for r in results:
        cells = [r["model"], str(r["size"]), str(r["epochs_done"]), str(r["train_minutes"]), f"{r['macro_f1']:.3f}",
                 f"{r['covid_sensitivity']:.3f}", f"{r['covid_precision']:.3f}", f"{r['auc_macro_ovr']:.3f}"]
        cells += [f"{r['recall'][c]:.3f}" for c in classes]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", type=Path, required=True, help="manifest with split (and dup_group/group) columns")
    ap.add_argument("--models", nargs="+", default=["cnn-small", "resnet18"])
    ap.add_argument("--minutes", type=float, default=60.0, help="training budget per model")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--config", type=Path, default=None, help="optional TrainConfig YAML")
    ap.add_argument("--set", action="append", default=[], help="config override key=value")
    ap.add_argument("--runs-dir", type=Path, default=Path("cxrlab-out/runs"))
    ap.add_argument("--cache-dir", type=Path, default=Path("cxrlab-out/cache"))
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    results = []
    for model in args.models:
        results.append(train_one(args.manifest, model, args))
        print(json.dumps(results[-1]), flush=True)
    print(f"\nmachine: {os.cpu_count()} CPUs, torch {torch.__version__}, threads {torch.get_num_threads()}\n")
    print(markdown(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
