"""Fast leave-one-source-out screening with frozen ImageNet features (linear probe).

Extracting a frozen backbone's pooled features once for every film (about 2 minutes at 128 px on
2 cores) makes a whole leave-one-source-out table over many folds and label schemes a matter of
seconds: a logistic regression per fold on the training split's features, scored with the same
``cxrlab.loso.scores`` as the trained recipes. It screens label schemes and input sizes before the
expensive fine-tuning runs (``bench_loso.py``)::

    python benchmarks/bench_probe.py --manifest work/manifest.csv --cache work/cache --size 128 \
        --scheme 3class --scheme adult4 --out work/probe

``--scheme`` takes built-in names or YAML files. Results (JSON per fold and a Markdown table) go
to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

HOLDOUTS = ("covid-cxnet", "ieee8023-covid-chestxray", "nih-chestxray14", "covid-qu-ex", "tbx11k")


def extract_features(df: pd.DataFrame, cache_root: str, size: int, model_name: str, weights: str,
                     out: Path, threads: int = 2) -> np.ndarray:
    """Pooled features of every manifest row (NaN rows for films the cache could not read), cached in ``out``."""
    import torch

    from cxrlab.config import PreprocessConfig
    from cxrlab.data.cache.store import build_cache
    from cxrlab.data.preprocess import to_model_input
    from cxrlab.models.registry import create_model, model_info

    if out.exists():
        data = np.load(out)
        if len(data["features"]) == len(df):
            return data["features"]
    torch.set_num_threads(threads)
    store = build_cache(df, cache_root, PreprocessConfig(size=size), workers=2, progress=False)
    model = create_model(model_name, 2, in_chans=1, weights=weights).eval().to(memory_format=torch.channels_last)
    info = model_info(model_name)
    feats = None
    start = time.perf_counter()
    with torch.no_grad():
        for lo in range(0, len(df), 64):
            x = torch.from_numpy(to_model_input(np.asarray(store.images[lo:lo + 64]), (info.mean,), (info.std,), 1))
            f = model.forward_head(model.forward_features(x.to(memory_format=torch.channels_last)), pre_logits=True)
            if feats is None:
                feats = np.full((len(df), f.shape[1]), np.nan, dtype=np.float32)
            feats[lo:lo + 64] = f.numpy()
    feats[~np.asarray(store.ok)] = np.nan
    print(f"features {feats.shape} in {time.perf_counter() - start:.0f} s", flush=True)
    np.savez(out, features=feats)
    return feats


def probe_fold(rows: pd.DataFrame, feats: np.ndarray, scheme, c_grid=(0.05,)) -> tuple[np.ndarray, dict]:
    """Logistic regression on train features (C picked on val macro-F1); probabilities for every row."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.preprocessing import StandardScaler

    target = np.array([scheme.index(lab) if scheme.index(lab) is not None else -1 for lab in rows["label"]])
    ok = ~np.isnan(feats).any(axis=1)
    train = (rows["split"] == "train").to_numpy() & ok & (target >= 0)
    val = (rows["split"] == "val").to_numpy() & ok & (target >= 0)
    scaler = StandardScaler().fit(feats[train])
    x = np.where(ok[:, None], feats, 0)
    xs = scaler.transform(x)
    best = None
    for c in c_grid:
        clf = LogisticRegression(C=c, class_weight="balanced", max_iter=300).fit(xs[train], target[train])
        f1 = f1_score(target[val], clf.predict(xs[val]), average="macro")
        if best is None or f1 > best[0]:
            best = (f1, c, clf)
    probs = best[2].predict_proba(xs)
    probs[~ok] = np.nan
    return probs, {"C": best[1], "val_macro_f1": float(best[0])}


def fmt(item: dict | None) -> str:
    value = item.get("value") if isinstance(item, dict) else None
    return "–" if value is None else f"{value:.2f}"


def summary_row(name: str, holdout: str, scores: dict) -> str:
    op = scores.get("operating_point", scores["argmax"])
    h, i = op["holdout"], op["internal"]
    cells = [name, holdout, fmt(h.get("covid_sensitivity")), fmt(h.get("covid_auroc")),
             fmt(h.get("adult_non_covid_called_covid")), fmt(h.get("adult_pneumonia_recall")),
             fmt(h.get("adult_pneumonia_vs_normal_auroc")), fmt(i.get("macro_f1")),
             fmt(scores["argmax"]["internal"].get("macro_f1"))]
    return "| " + " | ".join(cells) + " |"


HEADER = ("| candidate | held out | COVID sens. (op) | COVID AUROC | adult non-COVID called COVID (op) | "
          "adult pneumonia recall (op) | pneumonia vs normal AUROC | internal macro-F1 (op) | internal macro-F1 (arg-max) |\n"
          "|---|---|---|---|---|---|---|---|---|")


def main(argv: list[str] | None = None) -> None:
    from cxrlab.data.manifest import read_manifest
    from cxrlab.labels import load_scheme
    from cxrlab.loso.folds import fold_rows
    from cxrlab.loso.scores import score_fold

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--manifest", required=True)
    p.add_argument("--cache", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--model", default="efficientnet_lite0")
    p.add_argument("--weights", default="imagenet")
    p.add_argument("--scheme", action="append")
    p.add_argument("--holdout", action="append")
    p.add_argument("--seed", type=int, action="append")
    p.add_argument("--train-population", default="all")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    df = read_manifest(args.manifest)
    feats = extract_features(df, args.cache, args.size, args.model, args.weights,
                             out / f"features_{args.model}_{args.size}.npz")
    lines = [HEADER]
    for scheme_name in args.scheme or ["3class"]:
        scheme = load_scheme(scheme_name)
        for seed in args.seed or [0]:
            for holdout in args.holdout or HOLDOUTS:
                start = time.perf_counter()
                rows = fold_rows(df.assign(_row=np.arange(len(df))), holdout, scheme, seed=seed,
                                 train_population=args.train_population)
                probs, fit = probe_fold(rows, feats[rows["_row"].to_numpy()], scheme)
                keep = rows["split"].isin(["val", "test", "external"]).to_numpy()
                scores = score_fold(rows[keep], probs[keep], scheme)
                scores["probe"], scores["seconds"] = fit, round(time.perf_counter() - start, 1)
                name = f"probe {args.model} {args.size}px {scheme.name} seed{seed}"
                (out / f"{scheme.name}-{args.size}-{holdout}-seed{seed}.json").write_text(json.dumps(scores, indent=1))
                lines.append(summary_row(name, holdout, scores))
                print(lines[-1], flush=True)
    table = out / f"table-{args.model}-{args.size}.md"
    table.write_text(table.read_text() + "\n".join(lines[1:]) + "\n" if table.exists() else "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
