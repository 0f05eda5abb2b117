"""The stages of ``cxrlab demo`` (run by :mod:`cxrlab.demo.run`). Each takes (cfg, state, log), records
its outputs in ``state`` and returns a one-line message; it raises ``StageSkipped`` when it cannot
run here. Heavy modules are imported inside the stage that needs them."""

from __future__ import annotations

from pathlib import Path

from cxrlab.demo.state import DemoConfig, DemoState, Log, StageSkipped, clear_own_folder, require

SYNTHETIC_FOLDER = "synthetic-cxr"


def stage_data(cfg: DemoConfig, state: DemoState, log: Log) -> str:
    if cfg.data:
        root = Path(cfg.data)
        if not root.is_dir():
            raise StageSkipped(f"{root}: dataset folder not found")
        state.data_root = root
        return f"using the dataset folder {root}"
    from cxrlab.data.synthetic.generate import SYNTHETIC_TEXT, make_synthetic_dataset

    root = state.out / "data" / SYNTHETIC_FOLDER
    clear_own_folder(root, "SYNTHETIC.txt")
    make_synthetic_dataset(root, labels=cfg.synthetic_labels, per_class=cfg.per_class, size=cfg.film_size,
                           seed=cfg.seed, images_per_patient=cfg.images_per_patient, manifest=True,
                           duplicates=cfg.duplicates)
    state.data_root, state.synthetic = root, True
    log(SYNTHETIC_TEXT.rstrip())
    n = cfg.per_class * len(cfg.synthetic_labels)
    return (f"{n} SYNTHETIC films ({', '.join(cfg.synthetic_labels)}) + {cfg.duplicates} resized copies "
            f"in {root} - see SYNTHETIC.txt there")


def stage_index(cfg: DemoConfig, state: DemoState, log: Log) -> str:
    root = require(state.data_root, "a dataset folder")
    from cxrlab.data.index.indexer import index_datasets, write_index
    from cxrlab.data.manifest import write_manifest

    with state.bar("indexing") as progress:
        result = index_datasets([root], workers=cfg.workers, progress=progress)
    manifest_path = state.out / "manifest.csv"
    write_index(result, manifest_path)
    df = result.manifest
    if df.empty:
        raise StageSkipped(f"no usable images found under {root} (see {state.out / 'index_skipped.csv'})")
    if not state.synthetic and cfg.max_per_class and df["label"].value_counts().max() > cfg.max_per_class:
        df = _limit_per_label(df, cfg.max_per_class, cfg.seed)
        write_manifest(df, manifest_path)
        log(f"kept at most {cfg.max_per_class} images per label for the demo (--max-per-class)")
    state.manifest = manifest_path
    counts = ", ".join(f"{k} {v}" for k, v in df["label"].value_counts().sort_index().items())
    return f"{len(df)} images ({counts}) -> {manifest_path}"


def _limit_per_label(df, limit: int, seed: int):
    parts = [group.sample(n=min(limit, len(group)), random_state=seed) for _, group in df.groupby("label")]
    import pandas as pd

    return pd.concat(parts).sort_values(["source", "path"], kind="stable").reset_index(drop=True)


def stage_audit(cfg: DemoConfig, state: DemoState, log: Log) -> str:
    manifest = require(state.manifest, "a manifest")
    from cxrlab.data.audit.run import run_audit
    from cxrlab.data.audit.report import write_audit
    from cxrlab.data.manifest import read_manifest, write_manifest

    with state.bar("audit: reading") as progress:
        result = run_audit(read_manifest(manifest), workers=cfg.workers, progress=progress)
    write_manifest(result.manifest, manifest)  # adds dup_group, which the split keeps together
    files = write_audit(result, state.out / "audit", seed=cfg.seed)
    state.audit = files.summary.parent
    s = result.summary()
    return (f"{s['duplicate_groups']} duplicate groups ({s['exact_groups']} exact, {s['near_groups']} near), "
            f"{s['label_conflict_groups']} with conflicting labels -> {files.summary.parent}")


def stage_split(cfg: DemoConfig, state: DemoState, log: Log) -> str:
    manifest = require(state.manifest, "a manifest")
    from cxrlab.data.manifest import read_manifest, write_manifest
    from cxrlab.data.splits import make_splits
    from cxrlab.labels import load_scheme

    df = make_splits(read_manifest(manifest), scheme=load_scheme(cfg.scheme), seed=cfg.seed)
    write_manifest(df, manifest)
    state.split_done = True
    counts = df["split"].value_counts()
    parts = ", ".join(f"{name} {counts.get(name, 0)}" for name in ("train", "val", "test"))
    return f"{parts} images; {df['group'].nunique()} groups (patients joined with their duplicates) never cross splits"


def stage_eda(cfg: DemoConfig, state: DemoState, log: Log) -> str:
    manifest = require(state.manifest, "a manifest")
    from cxrlab.data.eda.report import make_eda_report
    from cxrlab.data.manifest import read_manifest

    state.eda = make_eda_report(read_manifest(manifest), state.out / "eda.html", audit_dir=state.audit,
                                samples_per_class=8, seed=cfg.seed)
    return f"dataset report (classes per source and split, sizes, intensities, samples) -> {state.eda}"


def stage_cache(cfg: DemoConfig, state: DemoState, log: Log) -> str:
    manifest = require(state.manifest, "a manifest")
    from cxrlab.config import PreprocessConfig
    from cxrlab.data.cache.store import build_cache
    from cxrlab.data.manifest import read_manifest

    df = read_manifest(manifest)
    state.cache_dir = state.out / "cache"
    with state.bar("caching") as progress:
        store = build_cache(df, state.cache_dir, PreprocessConfig(size=cfg.image_size), workers=cfg.workers,
                            progress=progress)
    bad = int((~store.ok).sum())
    return f"{len(df)} images at {cfg.image_size} px in {store.path}" + (f" ({bad} unreadable)" if bad else "")


def stage_train(cfg: DemoConfig, state: DemoState, log: Log) -> str:
    manifest = require(state.manifest, "a manifest")
    require(state.split_done, "train/val/test splits (split stage)")
    from cxrlab.train.config import TrainConfig, with_options
    from cxrlab.train.fit import fit

    runs = state.out / "runs"
    clear_own_folder(runs / "demo", "config.yaml")
    train_cfg = with_options(
        TrainConfig(), manifest=str(manifest), scheme=cfg.scheme, size=cfg.image_size, model=cfg.model,
        epochs=cfg.epochs, batch_size=cfg.batch_size, name="demo", runs_dir=str(runs), seed=cfg.seed,
        cache_dir=str(state.cache_dir or state.out / "cache"), progress=cfg.progress,
        lr=1e-3, samples_per_epoch=0,  # the demo's small from-scratch CNN: one pass over its films per epoch
    )
    state.run_dir = fit(train_cfg)
    return f"{cfg.model}, {cfg.epochs} epochs, {cfg.image_size} px -> {state.run_dir}"


def stage_evaluate(cfg: DemoConfig, state: DemoState, log: Log) -> str:
    run = require(state.run_dir, "a trained model")
    from cxrlab.evaluate.pipeline import EvaluateOptions, evaluate_run

    options = EvaluateOptions(n_boot=cfg.n_boot, seed=cfg.seed)
    out = evaluate_run(run, cache_root=state.cache_dir, options=options, log=log)
    state.report = out / "report.html"
    return f"report {state.report}"


def stage_export(cfg: DemoConfig, state: DemoState, log: Log) -> str:
    run = require(state.run_dir, "a trained model")
    from cxrlab.export.bundle import export_bundle

    metrics = state.report.parent / "metrics.json" if state.report else None
    report = export_bundle(run, state.out / "model.cxrlab", evaluation=metrics if metrics and metrics.exists() else None)
    state.bundle = Path(report.path)
    return (f"{report.path} ({report.bytes / 1e6:.1f} MB); ONNX Runtime vs PyTorch max |logit diff| "
            f"{report.parity.logits_max_abs_diff:.1e}")


def stage_predict(cfg: DemoConfig, state: DemoState, log: Log) -> str:
    bundle = require(state.bundle, "an exported bundle")
    from cxrlab.data.manifest import read_manifest
    from cxrlab.predict.batch import predict_files, write_csv
    from cxrlab.predict.predictor import Predictor

    df = read_manifest(require(state.manifest, "a manifest"))
    picked = pick_images(df, cfg.predict_count, cfg.seed)
    predictor = Predictor.from_bundle(bundle)
    rows = list(predict_files(predictor, list(picked["path"]), batch_size=16, workers=1))
    state.predictions = state.out / "predictions.csv"
    write_csv(iter(rows), state.predictions, predictor.classes)
    for row, label in zip(rows, picked["label"]):
        shown = row["error"] or f"{row['label']} ({float(row['probability']):.0%}), decision {row['decision']}"
        log(f"  {Path(row['path']).name}: {shown}  [labelled {label}]")
    return f"{len(rows)} test images through the bundle (no torch) -> {state.predictions}"


def pick_images(df, count: int, seed: int):
    """Up to ``count`` rows, test split first, spread over the labels (round robin)."""
    has_test = "split" in df.columns and (df["split"] == "test").any()
    shuffled = (df[df["split"] == "test"] if has_test else df).sample(frac=1.0, random_state=seed)
    turn = shuffled.groupby("label", sort=True).cumcount()
    return shuffled.assign(_turn=turn).sort_values(["_turn", "label"]).head(count).drop(columns="_turn")


STAGES = (
    ("data", stage_data), ("index", stage_index), ("audit", stage_audit), ("split", stage_split),
    ("eda", stage_eda), ("cache", stage_cache), ("train", stage_train), ("evaluate", stage_evaluate), ("export", stage_export),
    ("predict", stage_predict),
)
