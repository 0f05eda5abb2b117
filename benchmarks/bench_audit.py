"""Benchmark the leakage audit on real data: runtime, peak memory, findings.

    python benchmarks/bench_audit.py ../shared/cxr-data            # indexes first (into a temp folder)
    python benchmarks/bench_audit.py --manifest cxrlab-out/manifest.csv

Prints one JSON object: images, seconds (audit only), images/s, CPU seconds (with workers), peak
RSS of the main process, and the audit's counts. With ``--out`` the audit files are kept there
(look at near_pairs.png to check that reported copies are copies).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("roots", nargs="*", type=Path, help="dataset folder(s) to index first")
    parser.add_argument("--manifest", type=Path, help="an existing manifest (skips indexing)")
    parser.add_argument("--out", type=Path, help="keep the audit files in this folder")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    from cxrlab.data.audit.run import run_audit
    from cxrlab.data.audit.report import write_audit
    from cxrlab.data.manifest import read_manifest

    with tempfile.TemporaryDirectory() as tmp:
        manifest = args.manifest
        index_seconds = None
        if manifest is None:
            if not args.roots:
                parser.error("give dataset folder(s) or --manifest")
            from cxrlab.data.index.indexer import index_datasets, write_index

            t0 = time.perf_counter()
            result = index_datasets(args.roots, workers=args.workers, progress=False)
            index_seconds = time.perf_counter() - t0
            manifest = write_index(result, Path(tmp) / "manifest.csv").manifest
        df = read_manifest(manifest)
        cpu0 = _cpu()
        t0 = time.perf_counter()
        audit = run_audit(df, workers=args.workers, progress=False)
        seconds = time.perf_counter() - t0
        cpu = _cpu() - cpu0
        write_audit(audit, args.out or Path(tmp) / "audit")
    summary = audit.summary()
    report = {
        "images": len(df),
        "index_seconds": None if index_seconds is None else round(index_seconds, 1),
        "audit_seconds": round(seconds, 1),
        "audit_images_per_s": round(len(df) / seconds, 1),
        "audit_cpu_seconds": round(cpu, 1),
        # main process only: on Linux a child's ru_maxrss starts from the parent's size at fork, so the
        # children's value is not meaningful; the reading workers hold one small film at a time.
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        **{k: v for k, v in summary.items() if not isinstance(v, list) and k != "seconds"},
        "groups_by_sources": summary["groups_by_sources"],
    }
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


def _cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


if __name__ == "__main__":
    raise SystemExit(main())
