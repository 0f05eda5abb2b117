"""Data-layer benchmark on the real images in ../shared/cxr-data: index, audit, cache build.

    python benchmarks/bench_data.py [--data /work/shared/cxr-data] [--workers 2] [--size 224]

Each stage runs in its own Python process, so its peak memory (``ru_maxrss`` of the stage process
and of its largest worker process) is its own. Prints a markdown table. Outputs (manifest, audit,
cache) go to a temporary folder that is deleted afterwards (``--keep DIR`` to keep them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "cxr-data"


def _peaks() -> dict[str, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"peak_mb": round(own, 1), "worker_peak_mb": round(kids, 1)}


def stage_index(data: Path, work: Path, workers: int, size: int) -> dict:
    from cxrlab.data.index.indexer import index_datasets, write_index

    start = time.perf_counter()
    result = index_datasets([data], workers=workers, progress=False)
    write_index(result, work / "manifest.csv")
    seconds = time.perf_counter() - start
    return {"images": len(result.manifest), "seconds": seconds, "skipped": len(result.skipped)}


def stage_audit(data: Path, work: Path, workers: int, size: int) -> dict:
    from cxrlab.data.audit.run import run_audit
    from cxrlab.data.audit.report import write_audit
    from cxrlab.data.manifest import read_manifest

    df = read_manifest(work / "manifest.csv")
    start = time.perf_counter()
    result = run_audit(df, workers=workers, progress=False)
    write_audit(result, work / "audit")
    seconds = time.perf_counter() - start
    findings = {k: v for k, v in result.summary().items() if isinstance(v, (int, float))}
    return {"images": len(df), "seconds": seconds, "findings": findings}


def stage_cache(data: Path, work: Path, workers: int, size: int) -> dict:
    from cxrlab.config import PreprocessConfig
    from cxrlab.data.cache.store import build_cache, open_cache
    from cxrlab.data.manifest import read_manifest

    df = read_manifest(work / "manifest.csv")
    cfg = PreprocessConfig(size=size)
    start = time.perf_counter()
    store = build_cache(df, work / "cache", cfg, workers=workers, progress=False)
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    again = open_cache(df, work / "cache", cfg)
    reopen = time.perf_counter() - start
    assert again is not None and again.ok.sum() == store.ok.sum()
    return {"images": len(df), "seconds": seconds, "errors": len(store.errors), "reopen_s": round(reopen, 3),
            "cache_mb": round(store.path.stat().st_size / 1e6)}


STAGES = {"index": stage_index, "audit": stage_audit, "cache": stage_cache}


def run_stage_process(name: str, args: argparse.Namespace, work: Path) -> dict:
    cmd = [sys.executable, __file__, "--stage", name, "--data", str(args.data), "--work", str(work),
           "--workers", str(args.workers), "--size", str(args.size)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
        return {"failed": tail[0]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _row(name: str, res: dict) -> str:
    if "failed" in res:
        return f"| {name} | - | - | - | - | - | failed: {res['failed'][:80]} |"
    rate = res["images"] / res["seconds"] if res["seconds"] else 0.0
    notes = {k: v for k, v in res.items() if k not in ("images", "seconds", "peak_mb", "worker_peak_mb", "findings")}
    return (f"| {name} | {res['images']:,} | {res['seconds']:.1f} | {rate:,.0f} | {res['peak_mb']:,.0f} | "
            f"{res['worker_peak_mb']:,.0f} | {', '.join(f'{k}={v}' for k, v in notes.items())} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--stages", default="index,audit,cache")
    parser.add_argument("--keep", type=Path, default=None, help="keep outputs in this folder")
    parser.add_argument("--stage", choices=sorted(STAGES), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:  # child process: run one stage, print its result as JSON
        result = STAGES[args.stage](args.data, args.work, args.workers, args.size)
        print(json.dumps({**result, **_peaks()}))
        return 0
    if not args.data.is_dir():
        print(f"SKIPPED: real data folder {args.data} not found (the benchmark needs ../shared/cxr-data).")
        return 0
    work = args.keep or Path(tempfile.mkdtemp(prefix="cxrlab-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"# cxrlab data benchmark\n\ndata: {args.data}  workers: {args.workers}  size: {args.size}  "
          f"cpus: {os.cpu_count()}  python: {platform.python_version()}  load avg before: {os.getloadavg()[0]:.1f}\n")
    print("| stage | images | seconds | images/s | peak RSS stage (MB) | peak RSS largest worker (MB) | notes |")
    print("|---|---:|---:|---:|---:|---:|---|")
    findings = None
    try:
        for name in args.stages.split(","):
            res = run_stage_process(name, args, work)
            findings = res.get("findings", findings)
            print(_row(name, res), flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\nload avg after: {os.getloadavg()[0]:.1f}")
    if findings:
        print("\naudit findings: " + ", ".join(f"{k}={v}" for k, v in findings.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
