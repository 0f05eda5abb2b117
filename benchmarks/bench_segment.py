"""Lung segmentation benchmark on real films (never run in tests).

1. Train: ``cxrlab segment train`` on the torchxrayvision lung masks matched to ``--data``
   (skipped with ``--seg-run`` pointing at an existing run).
2. Predict: lung boxes for a sample of ``--per-source`` films from every source, timing the
   throughput and counting plausible boxes per source; writes a contact sheet to look at.

    python benchmarks/bench_segment.py --data ../shared/cxr-data --out /tmp/bench-seg --epochs 8 --width 8
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd


def sample_manifest(data: Path, per_source: int, seed: int, target: Path) -> Path:
    from cxrlab.data.index.layouts import discover
    from cxrlab.data.manifest import write_manifest

    found = discover([data], frontal_only=True)
    df = pd.DataFrame([{"path": c.path, "label": c.label, "source": c.source, "patient_id": c.patient_id}
                       for c in found.candidates])
    df = df.sample(frac=1.0, random_state=seed).groupby("source").head(per_source)
    return write_manifest(df.reset_index(drop=True), target)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench-seg"))
    ap.add_argument("--seg-run", type=Path, help="reuse a trained segment run instead of training")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--per-source", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (1 is much faster on a busy machine)")
    args = ap.parse_args()

    from cxrlab.segment.run import segment_predict, segment_train
    from cxrlab.segment.train import SegTrainConfig

    report: dict = {}
    seg_run = args.seg_run
    if seg_run is None:
        seg_run = args.out / "segment"
        start = time.perf_counter()
        run = segment_train(SegTrainConfig(size=args.size, width=args.width, epochs=args.epochs, seed=args.seed,
                                           threads=args.threads),
                            seg_run, data=args.data)
        report["train"] = {"seconds": round(time.perf_counter() - start, 1), "best_epoch": run.result.best_epoch,
                           **run.result.metrics, "masks_total": run.masks_total, "matched": run.matched,
                           "sources": run.sources}
    manifest = sample_manifest(args.data, args.per_source, args.seed, args.out / "sample" / "manifest.csv")
    start = time.perf_counter()
    _, df, errors = segment_predict(seg_run, manifest, args.out / "sample" / "manifest_lungs.csv",
                                   seed=args.seed, threads=args.threads)
    seconds = time.perf_counter() - start
    per_source = df.groupby("source").agg(films=("lung_ok", "size"), plausible=("lung_ok", "mean"),
                                          area=("lung_area", "median"))
    report["predict"] = {"films": len(df), "seconds": round(seconds, 1), "films_per_s": round(len(df) / seconds, 1),
                         "unreadable": len(errors), "per_source": per_source.round(3).to_dict(orient="index")}
    (args.out / "bench_segment.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
