"""``fit(cfg)``: a whole training run into ``<runs_dir>/<name>/`` — resumable, DDP-aware.

Run folder (:class:`cxrlab.artifacts.run_folder.RunFolder`): ``config.yaml``, ``split_manifest.csv``,
``checkpoints/best/``, ``checkpoints/last/`` (with ``train_state.pt``), ``history.csv``/``history.json``,
``curves.png``, ``log.txt``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn

from cxrlab.artifacts.run_folder import RunFolder
from cxrlab.config import load_config, save_config, to_dict
from cxrlab.errors import ConfigError
from cxrlab.metrics.classification import validation_metrics
from cxrlab.train.config import TrainConfig
from cxrlab.train.distributed import DistContext, all_gather, any_rank, barrier, cleanup_distributed, setup_distributed
from cxrlab.train.history import RunLog, plot_curves, write_history
from cxrlab.train.loop import predict_probs, train_one_epoch
from cxrlab.train.progress import TrainProgress
from cxrlab.train.setup import Run, setup_run
from cxrlab.train.state import BUDGET_STOP, Progress, epoch_seed, has_checkpoint, make_train_state, restore


def fit(cfg: TrainConfig, resume: str | Path | None = None) -> Path:
    """Train per ``cfg`` (or continue the run folder ``resume``); returns the run folder."""
    ctx = setup_distributed()
    try:
        if resume is not None:
            run_dir, cfg = _resume_config(Path(resume), cfg)
        else:
            run_dir = _new_run_dir(cfg, ctx)
        return _fit(cfg, ctx, run_dir, resumed=resume is not None)
    finally:
        cleanup_distributed(ctx)


def _resume_config(run_dir: Path, overrides: TrainConfig) -> tuple[Path, TrainConfig]:
    run = RunFolder(run_dir)
    if not run.config.exists():
        raise ConfigError(f"{run_dir}: not a run folder (no config.yaml) — nothing to resume")
    saved = load_config(TrainConfig, run.config)
    # Only what cannot change the result may differ on resume.
    cfg = replace(saved, max_minutes=overrides.max_minutes, progress=overrides.progress, threads=overrides.threads,
                  data=replace(saved.data, workers=overrides.data.workers,
                               manifest=str(run.split_manifest)))
    return run_dir, cfg


def _new_run_dir(cfg: TrainConfig, ctx: DistContext) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    scheme = Path(cfg.data.scheme).stem
    name = all_gather(ctx, cfg.name or f"{cfg.model.name}-{scheme}-{stamp}")[0]
    run_dir = Path(cfg.runs_dir) / name
    if RunFolder(run_dir).checkpoints.exists():
        raise ConfigError(f"{run_dir}: run folder already has checkpoints; use --resume {run_dir} or another --name")
    return run_dir


def _fit(cfg: TrainConfig, ctx: DistContext, run_dir: Path, resumed: bool) -> Path:
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    _check_inputs(cfg)
    folder = RunFolder(run_dir)
    if ctx.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        if not resumed:
            save_config(cfg, folder.config)
    barrier(ctx)
    log = RunLog(folder.log if ctx.is_main else None)
    run = setup_run(cfg, ctx, run_dir, log, resumed=resumed)
    state = Progress()
    if resumed and has_checkpoint(run_dir):
        state = restore(run_dir, run.model, run.optimizer, run.scheduler, run.scaler, run.ema)
        log(f"resumed after epoch {state.epoch}")
    elif resumed:
        log("resumed before the first checkpoint: starting from epoch 1")
    with TrainProgress(cfg.progress and ctx.is_main) as bar:
        for note in run.data.notes:
            bar.message(f"[yellow]note:[/] {note}")
        if state.stopped:
            bar.message(f"run already finished ({state.stopped}); nothing to do")
        else:
            _epochs(run, state, bar)
    log(f"done: {state.stopped}; best {cfg.monitor} {state.best} at epoch {state.best_epoch}")
    barrier(ctx)
    return run_dir


def _check_inputs(cfg: TrainConfig) -> None:
    """Fail before creating a run folder when the manifest or label scheme is unusable."""
    from cxrlab.labels import load_scheme

    load_scheme(cfg.data.scheme)
    if not Path(cfg.data.manifest).is_file():
        raise ConfigError(f"{cfg.data.manifest}: manifest not found (create one with 'cxrlab index DATA_DIR', "
                          "then 'cxrlab audit' and 'cxrlab split')")


def _epochs(run: Run, state: Progress, bar: TrainProgress) -> None:
    from cxrlab.train.optim import set_backbone_frozen

    cfg, ctx = run.cfg, run.ctx
    deadline = time.monotonic() + cfg.max_minutes * 60 if cfg.max_minutes > 0 else None
    out_of_time = (lambda: time.monotonic() > deadline) if deadline else None
    wrapped, wrapped_frozen = None, None
    while state.epoch < cfg.epochs:
        epoch = state.epoch
        frozen = epoch < cfg.model.freeze_epochs
        if wrapped is None or frozen != wrapped_frozen:
            set_backbone_frozen(run.model, frozen)
            wrapped, wrapped_frozen = _wrap(run.model, ctx), frozen
        torch.manual_seed(epoch_seed(cfg.seed, epoch))
        run.train_loader.sampler.set_epoch(epoch)
        run.train_loader.dataset.set_epoch(epoch)
        bar.start_epoch(epoch + 1, cfg.epochs, len(run.train_loader))
        lr = max(g["lr"] for g in run.optimizer.param_groups)
        train = train_one_epoch(wrapped, run.train_loader, run.criterion, run.optimizer, run.scheduler, run.step,
                                ctx, run.scaler, out_of_time, lambda n, loss, acc: bar.batch(loss, acc), frozen,
                                _average_update(run), run.mix)
        row = _validate(run, epoch, train, lr, frozen)
        state.epoch = epoch + 1
        state.history.append(row)
        improved = _track_best(run, state, row)
        _why_stop(run, state, train, out_of_time)
        _save(run, state, row, improved)
        bar.epoch_summary(row, cfg.monitor, improved)
        run.log(_row_text(row))
        if state.stopped:
            bar.message(f"stopping: {state.stopped}")
            break
    if not state.stopped:
        state.stopped = f"completed {cfg.epochs} epochs"
        if state.history:
            _save(run, state, state.history[-1], False)


def _wrap(model: nn.Module, ctx: DistContext) -> nn.Module:
    if not ctx.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [ctx.local_rank] if ctx.device.startswith("cuda") else None
    return DistributedDataParallel(model, device_ids=ids)


def _average_update(run: Run):
    """Per-step update of the weight average (None without one); the step count is the scheduler's, so
    a resumed run continues the same average."""
    if run.ema is None:
        return None
    return lambda: run.ema.update(run.model, step=run.scheduler.last_epoch)


def _validate(run: Run, epoch: int, train: dict, lr: float, frozen: bool) -> dict:
    probs, targets, val_loss = predict_probs(run.evaluated, run.val_loader, run.step, run.ctx, run.criterion)
    metrics = validation_metrics(probs, targets, run.data.scheme.classes)
    row = {"epoch": epoch + 1, "lr": lr, "frozen": frozen, "train_loss": train["loss"],
           "train_accuracy": train["accuracy"], "train_images": int(train["images"]),
           "train_seconds": round(train["seconds"], 3),
           "images_per_s": round(train["images"] / max(train["seconds"], 1e-9), 2),
           "partial_epoch": bool(train["interrupted"]), "val_loss": val_loss}
    row.update({f"val_{k}": v for k, v in metrics.items()})
    return row


def _track_best(run: Run, state: Progress, row: dict) -> bool:
    value = row[run.cfg.monitor]
    if state.improved(value, run.cfg.monitor == "val_loss", run.cfg.min_delta):
        state.best, state.best_epoch, state.bad_epochs = value, row["epoch"], 0
        return True
    state.bad_epochs += 1
    return False


def _why_stop(run: Run, state: Progress, train: dict, out_of_time) -> None:
    cfg = run.cfg
    # Every rank must take the same decision: the clock is read per rank, so agree on it.
    if train["interrupted"] or (out_of_time is not None and any_rank(run.ctx, out_of_time())):
        state.stopped = f"{BUDGET_STOP} of {cfg.max_minutes:g} min reached"
    elif cfg.patience and state.bad_epochs >= cfg.patience:
        state.stopped = f"early stop: no {cfg.monitor} improvement for {cfg.patience} epochs"


def _save(run: Run, state: Progress, row: dict, improved: bool) -> None:
    """Rank 0: best (when improved) and last checkpoints, history files, curves."""
    if not run.ctx.is_main:
        return
    from cxrlab.artifacts.checkpoint import save_checkpoint

    meta = _meta(run, row)
    folder = RunFolder(run.run_dir)
    if improved:
        save_checkpoint(folder.checkpoint("best"), run.evaluated, meta)
    raw = run.model.state_dict() if run.ema is not None else None
    train_state = make_train_state(state, run.optimizer, run.scheduler, run.scaler, run.ctx.world, raw)
    save_checkpoint(folder.checkpoint("last"), run.evaluated, meta, train_state)
    write_history(run.run_dir, state.history)
    plot_curves(run.run_dir, state.history, run.cfg.monitor)


def _meta(run: Run, row: dict):
    from cxrlab.artifacts.checkpoint import make_meta

    cfg, scheme = run.cfg, run.data.scheme
    return make_meta(architecture=cfg.model.name, classes=scheme.classes, label_scheme=scheme,
                     in_chans=cfg.model.in_chans, preprocess=cfg.data.preprocess, mean=run.mean,
                     std=run.std, weights_origin=run.weights_origin, epoch=row["epoch"], metrics={k: v for k, v in row.items() if k.startswith("val_")},
                     config=to_dict(cfg))


def _row_text(row: dict) -> str:
    keys = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "val_macro_f1", "val_auc", "images_per_s")
    return f"epoch {row['epoch']}: " + " ".join(f"{k}={row[k]:.4f}" for k in keys if isinstance(row.get(k), float))
