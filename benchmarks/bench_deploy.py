"""Deployment benchmarks (untrained weights are fine for timing):

- ``latency``: same checkpoint, PyTorch eager vs ONNX Runtime (the exported bundle's graph):
  batch-1 latency (median, p95) and batch-32 throughput, per model at 224 px;
- ``predict``: ``cxrlab predict`` images/s on real files (wall time of the whole command);
- ``serve``:   ``cxrlab serve`` under N concurrent loopback clients for D seconds
  (requests/s, latency p50/p95, errors).

    python benchmarks/bench_deploy.py --parts latency predict serve --out benchmarks/results/deploy-raw.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DATA = Path("/work/shared/cxr-data")
CXRLAB = str(Path(sys.executable).with_name("cxrlab"))


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def load() -> float:
    return round(os.getloadavg()[0], 2)


def make_bundle(arch: str, size: int, root: Path) -> tuple[Path, Path]:
    """An untrained checkpoint (seeded) and its bundle."""
    import torch

    from cxrlab.config import PreprocessConfig
    from cxrlab.export.bundle import export_bundle
    from cxrlab.labels import builtin_schemes
    from cxrlab.models.registry import create_model, model_info
    from cxrlab.artifacts.checkpoint import make_meta, save_checkpoint

    scheme = builtin_schemes()["3class"]
    info = model_info(arch)
    meta = make_meta(architecture=arch, classes=scheme.classes, label_scheme=scheme, in_chans=1,
                     preprocess=PreprocessConfig(size=size), mean=[info.mean], std=[info.std])
    torch.manual_seed(0)
    run = root / f"{arch}-{size}"
    save_checkpoint(run / "checkpoints" / "best", create_model(arch, 3).eval(), meta)
    report = export_bundle(run, root / f"{arch}-{size}.cxrlab")
    return run, Path(report.path)


def _times(fn, repeats: int, warmup: int) -> np.ndarray:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return np.array(out)


def bench_latency(arch: str, size: int, root: Path, repeats: int, threads: int) -> dict:
    import onnxruntime as ort
    import torch

    from cxrlab.export.bundle_file import read_bundle
    from cxrlab.models.loading import load_checkpoint

    run, bundle = make_bundle(arch, size, root)
    torch.set_num_threads(threads)
    model, _ = load_checkpoint(run)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(read_bundle(bundle).onnx, options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    out = {"model": arch, "size": size, "threads": threads, "load_before": load()}
    for batch, reps in ((1, repeats), (32, max(repeats // 10, 3))):
        x = rng.standard_normal((batch, 1, size, size)).astype(np.float32)
        xt = torch.from_numpy(x)

        def eager():
            with torch.inference_mode():
                model(xt)

        t_eager = _times(eager, reps, 3)
        t_ort = _times(lambda: session.run(["logits"], {"input": x}), reps, 3)
        for name, t in (("eager", t_eager), ("ort", t_ort)):
            out[f"b{batch}_{name}_median_ms"] = float(np.median(t) * 1000)
            out[f"b{batch}_{name}_p95_ms"] = float(np.percentile(t, 95) * 1000)
            out[f"b{batch}_{name}_images_per_s"] = float(batch / np.median(t))
    out["b1_ratio_ort_over_eager"] = out["b1_ort_median_ms"] / out["b1_eager_median_ms"]
    out["b32_speedup_ort"] = out["b32_ort_images_per_s"] / out["b32_eager_images_per_s"]
    out["load_after"] = load()
    return out


def pick_images(n: int) -> list[str]:
    import pandas as pd

    frames = []
    for source in sorted(p for p in DATA.iterdir() if (p / "manifest.csv").exists()):
        m = pd.read_csv(source / "manifest.csv", usecols=["file"])
        frames.append(source.as_posix() + "/" + m["file"])
    files = pd.concat(frames).sample(n=n, random_state=0)
    return files.tolist()


def _run_predict(bundle: Path, folder: Path, out_csv: Path, extra: list[str]) -> tuple[float, int, str]:
    start = time.perf_counter()
    res = subprocess.run([CXRLAB, "predict", str(bundle), str(folder), "--out", str(out_csv), *extra],
                         capture_output=True, text=True)
    wall = time.perf_counter() - start
    if res.returncode != 0:
        raise RuntimeError(res.stderr)
    return wall, out_csv.read_text().count("\n") - 1, res.stdout.strip()


def bench_predict(bundle: Path, n: int, root: Path, extra: list[str], small: int = 32) -> dict:
    """Wall time of ``cxrlab predict`` on n images (symlinked into one folder), and on ``small``
    images: the difference gives the steady-state rate without start-up (imports, session)."""
    files = pick_images(n)
    folders = {n: root / "files-all", small: root / "files-small"}
    for count, folder in folders.items():
        folder.mkdir(exist_ok=True)
        for i, f in enumerate(files[:count]):
            (folder / f"{i:05d}_{Path(f).name}").symlink_to(f)
    before = load()
    wall_small, _, _ = _run_predict(bundle, folders[small], root / "small.csv", extra)
    wall, rows, stdout = _run_predict(bundle, folders[n], root / "predictions.csv", extra)
    return {"bundle": bundle.name, "images": rows, "args": extra, "wall_s": wall, "images_per_s": rows / wall,
            "wall_small_s": wall_small, "small": small, "steady_images_per_s": (rows - small) / (wall - wall_small),
            "load_before": before, "load_after": load(), "output": stdout.splitlines()[-2:]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _clients(url: str, payloads: list[bytes], clients: int, duration: float, query: str) -> dict:
    import httpx

    latencies, statuses, errors = [], {}, []
    stop = time.perf_counter() + duration

    async def worker(k: int, client: httpx.AsyncClient) -> None:
        i = k
        while time.perf_counter() < stop:
            data = payloads[i % len(payloads)]
            i += clients
            start = time.perf_counter()
            try:
                r = await client.post(url + "/v1/predict" + query, files={"file": ("x.jpg", data, "image/jpeg")})
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            except Exception as exc:  # connection errors count as errors
                errors.append(type(exc).__name__)
                continue
            latencies.append(time.perf_counter() - start)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        began = time.perf_counter()
        await asyncio.gather(*(worker(k, client) for k in range(clients)))
        elapsed = time.perf_counter() - began
    lat = np.array(latencies)
    ok = statuses.get(200, 0)
    return {"requests": int(len(lat)), "ok": ok, "statuses": {str(k): v for k, v in statuses.items()},
            "errors": len(errors) + sum(v for k, v in statuses.items() if k != 200), "elapsed_s": elapsed,
            "requests_per_s": len(lat) / elapsed, "p50_ms": float(np.percentile(lat, 50) * 1000),
            "p95_ms": float(np.percentile(lat, 95) * 1000), "max_ms": float(lat.max() * 1000)}


def bench_serve(bundle: Path, clients: int, duration: float, extra: list[str], heatmap: bool) -> dict:
    import httpx

    port = _free_port()
    proc = subprocess.Popen([CXRLAB, "serve", str(bundle), "--port", str(port), *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("server did not start: " + (proc.stderr.read() if proc.poll() is not None else ""))
            time.sleep(0.2)
        payloads = [Path(f).read_bytes() for f in pick_images(64)]
        before = load()
        result = asyncio.run(_clients(url, payloads, clients, duration, "?heatmap=true" if heatmap else ""))
        result.update({"bundle": bundle.name, "clients": clients, "duration_s": duration, "args": extra,
                       "heatmap": heatmap, "load_before": before, "load_after": load()})
        return result
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", nargs="+", default=["latency", "predict", "serve"])
    ap.add_argument("--models", nargs="+", default=["resnet18", "cnn-small"])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", type=int, default=3000)
    ap.add_argument("--predict-args", default="", help='extra cxrlab predict options, one string: "--workers 1"')
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--serve-args", default="", help='extra cxrlab serve options, one string: "--threads 1"')
    ap.add_argument("--heatmap", action="store_true", help="serve: ask for heatmaps too")
    ap.add_argument("--out", type=Path, default=None, help="append JSON lines here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as tmp:
        root = Path(tmp)
        results = []
        for arch in args.models:
            if "latency" in args.parts:
                results.append({"part": "latency", **bench_latency(arch, args.size, root / "lat", args.repeats, args.threads)})
                print(json.dumps(results[-1]), flush=True)
            if {"predict", "serve"} & set(args.parts):
                _, bundle = make_bundle(arch, args.size, root / arch)
                if "predict" in args.parts:
                    results.append({"part": "predict", **bench_predict(bundle, args.images, root / arch, shlex.split(args.predict_args))})
                    print(json.dumps(results[-1]), flush=True)
                if "serve" in args.parts:
                    results.append({"part": "serve", **bench_serve(bundle, args.clients, args.duration, shlex.split(args.serve_args), args.heatmap)})
                    print(json.dumps(results[-1]), flush=True)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as fh:
            for r in results:
                fh.write(json.dumps({**r, "machine": machine(), "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}) + "\n")


if __name__ == "__main__":
    main()
