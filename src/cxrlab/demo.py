"""``cxrlab demo``: the whole pipeline, end to end, on SYNTHETIC films (or a real dataset folder).

data -> index -> audit -> split -> eda -> cache -> train -> evaluate -> export -> predict. Each stage
is a small function that reads and writes the :class:`DemoState`; a stage whose module is not part
of this build, or whose inputs an earlier stage could not make, is reported as *skipped* with the
reason, never a crash. Library code: no argument parsing (see ``cxrlab.cli.demo``).

By default everything goes into the work folder every other command reads (``cxrlab-out/``:
``manifest.csv``, ``audit/``, ``eda.html``, ``cache/``, ``runs/demo/``), so ``cxrlab audit``,
``cxrlab eda``, ``cxrlab train`` and ``cxrlab evaluate cxrlab-out/runs/demo`` work right after it. A
manifest there that the demo did not write (newer than its ``DEMO.txt``) is never overwritten.
"""

from __future__ import annotations

import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cxrlab.errors import ConfigError, CxrlabError

Log = Callable[[str], None]


@dataclass(frozen=True)
class DemoConfig:
    out: str = "cxrlab-out"  # the work folder the other commands read by default
    data: str | None = None  # a real dataset folder; None = generate SYNTHETIC films
    scheme: str = "3class"
    synthetic_labels: tuple[str, ...] = ("COVID", "Normal", "Pneumonia")
    per_class: int = 120  # SYNTHETIC films per class
    images_per_patient: int = 2  # SYNTHETIC films share patients, so the split must group them
    duplicates: int = 6  # resized copies of SYNTHETIC films under other patient ids, for the audit to find
    film_size: int = 128  # pixels of the SYNTHETIC films on disk
    max_per_class: int = 400  # real data: at most this many images per label are kept (0 = all)
    image_size: int = 64  # model input
    model: str = "cnn-small"
    epochs: int = 6
    batch_size: int = 32
    n_boot: int = 200
    predict_count: int = 6
    seed: int = 0
    workers: int = 2
    progress: bool = True

    def __post_init__(self) -> None:
        if self.per_class < 4:
            raise ConfigError(f"demo per_class must be >= 4 (train/val/test need images), got {self.per_class}")


class StageSkipped(Exception):
    """Raised by a stage that cannot run here; the message says why."""


@dataclass
class StageResult:
    name: str
    status: str  # ok | skipped | failed
    message: str
    seconds: float = 0.0


@dataclass
class DemoState:
    """What the stages have produced so far (paths inside the output folder)."""

    out: Path
    synthetic: bool = False
    data_root: Path | None = None
    manifest: Path | None = None
    audit: Path | None = None
    split_done: bool = False
    eda: Path | None = None
    cache_dir: Path | None = None
    run_dir: Path | None = None
    report: Path | None = None
    bundle: Path | None = None
    predictions: Path | None = None
    results: list[StageResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(r.status == "failed" for r in self.results)


def run_demo(cfg: DemoConfig, log: Log = print) -> DemoState:
    """Run every stage in order; returns the state with one :class:`StageResult` per stage."""
    from cxrlab.demo_stages import STAGES

    out = Path(cfg.out)
    claim_work_folder(out)
    state = DemoState(out=out)
    try:
        for name, stage in STAGES:
            state.results.append(_run_stage(name, stage, cfg, state, log))
    finally:
        (out / DEMO_MARKER).touch()  # after the demo's last write: a newer manifest is someone else's
    return state


#: Written into the output folder: it was filled by the demo (and when).
DEMO_MARKER = "DEMO.txt"


def claim_work_folder(out: Path) -> None:
    """Make ``out`` the demo's, refusing when it holds a manifest the demo did not write."""
    manifest, marker = out / "manifest.csv", out / DEMO_MARKER
    if manifest.exists() and (not marker.exists() or manifest.stat().st_mtime > marker.stat().st_mtime + 1.0):
        raise ConfigError(f"{manifest} was not written by cxrlab demo (your own index?); the demo will not "
                          "overwrite it: choose another folder with --out (e.g. --out cxrlab-demo)")
    out.mkdir(parents=True, exist_ok=True)
    marker.write_text("This folder was filled by 'cxrlab demo' (SYNTHETIC films unless --data was given).\n"
                      "cxrlab commands read it by default: cxrlab audit, eda, train, evaluate cxrlab-out/runs/demo...\n",
                      encoding="utf-8")


def _run_stage(name: str, stage, cfg: DemoConfig, state: DemoState, log: Log) -> StageResult:
    log(f"[{name}] ...")
    start = time.perf_counter()
    try:
        message, status = stage(cfg, state, log), "ok"
    except StageSkipped as exc:
        message, status = str(exc), "skipped"
    except ImportError as exc:
        message, status = f"not available in this build ({exc})", "skipped"
    except CxrlabError as exc:
        message, status = str(exc), "failed"
    except Exception as exc:  # a bug: keep going, report it, keep the traceback in the log file
        message, status = f"{type(exc).__name__}: {exc} (traceback in {state.out / 'demo-errors.log'})", "failed"
        with open(state.out / "demo-errors.log", "a", encoding="utf-8") as fh:
            fh.write(f"--- stage {name}\n{traceback.format_exc()}\n")
    result = StageResult(name, status, message, time.perf_counter() - start)
    log(f"[{name}] {status} ({result.seconds:.1f} s): {message}")
    return result


def require(value, what: str):
    """The value an earlier stage should have produced, or skip this stage naming it."""
    if value is None or value is False:
        raise StageSkipped(f"needs {what}, which an earlier stage did not produce")
    return value


def clear_own_folder(path: Path, marker: str) -> None:
    """Remove a folder the demo made before (recognised by ``marker`` inside it), never another."""
    if path.exists():
        if not (path / marker).exists():
            raise ConfigError(f"{path}: exists and was not made by cxrlab demo (no {marker}); choose another --out")
        shutil.rmtree(path)


def summary(state: DemoState) -> str:
    """Where everything is, and what to run next."""
    lines = ["", "cxrlab demo - results" + (" (SYNTHETIC data: not real patients)" if state.synthetic else ""), ""]
    for r in state.results:
        lines.append(f"  {r.name:<9} {r.status:<8} {r.seconds:6.1f} s  {r.message}")
    lines.append("")
    items = [("data", state.data_root), ("manifest", state.manifest), ("audit", state.audit), ("EDA page", state.eda),
             ("run", state.run_dir),
             ("report", state.report), ("bundle", state.bundle), ("predictions", state.predictions)]
    lines += [f"  {label:<12} {path}" for label, path in items if path is not None]
    if state.report is not None:
        lines.append(f"\n  open the report:  {state.report.resolve().as_uri()}")
    if state.bundle is not None:
        lines.append(f"  serve the model:  cxrlab serve {state.bundle}")
    if state.synthetic:
        lines.append("\n  The images are SYNTHETIC drawings; the model is a demonstration, not a diagnostic tool.")
    return "\n".join(lines)
