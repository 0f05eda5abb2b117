"""``cxrlab demo``: the whole pipeline, end to end, on SYNTHETIC films (or a real dataset folder).

data -> index -> audit -> split -> eda -> cache -> train -> evaluate -> export -> predict. Each stage
is a small function that reads and writes the :class:`DemoState`; a stage whose inputs an earlier
stage could not make is reported as *skipped* with the reason, never a crash. Library code: no argument parsing (see ``cxrlab.cli.demo``).

By default everything goes into the work folder every other command reads (``cxrlab-out/``:
``manifest.csv``, ``audit/``, ``eda.html``, ``cache/``, ``runs/demo/``), so ``cxrlab audit``,
``cxrlab eda``, ``cxrlab train`` and ``cxrlab evaluate cxrlab-out/runs/demo`` work right after it. A
manifest there that the demo did not write (newer than its ``DEMO.txt``) is never overwritten.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path

from cxrlab.demo import stages
from cxrlab.demo.state import BarFactory, DemoConfig, DemoState, Log, StageResult, StageSkipped, no_bar
from cxrlab.errors import ConfigError, CxrlabError


def run_demo(cfg: DemoConfig, log: Log = print, bar: BarFactory | None = None) -> DemoState:
    """Run every stage in order; returns the state with one :class:`StageResult` per stage. ``bar``
    makes the progress callbacks of indexing, audit and cache (none by default)."""
    out = Path(cfg.out)
    claim_work_folder(out)
    state = DemoState(out=out, bar=bar or no_bar)
    try:
        for name, stage in stages.STAGES:
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
    except CxrlabError as exc:
        message, status = str(exc), "failed"
    except Exception as exc:  # a bug: keep going, report it, keep the traceback in the log file
        message, status = f"{type(exc).__name__}: {exc} (traceback in {state.out / 'demo-errors.log'})", "failed"
        with open(state.out / "demo-errors.log", "a", encoding="utf-8") as fh:
            fh.write(f"--- stage {name}\n{traceback.format_exc()}\n")
    result = StageResult(name, status, message, time.perf_counter() - start)
    log(f"[{name}] {status} ({result.seconds:.1f} s): {message}")
    return result


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
