"""A corpus of hostile files (``helpers_corpus``) through ``cxrlab predict``, a real ``cxrlab serve``
and ``cxrlab index``, each in its own process: no traceback, exit status non-zero exactly when a file
failed, no 5xx, the server still up after all of it (and a stalled upload), peak memory bounded."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import cxrlab
from helpers_corpus import build_corpus
from helpers_deploy import make_run, single_thread_torch

_one_thread = pytest.fixture(scope="module", autouse=True)(single_thread_torch)
pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="measures peak memory from /proc (Linux)")

#: Peak resident memory allowed to each command on the corpus (it holds a 4000x5000 film and
#: files that claim 900 M or 3.6 G pixels; predict measured 0.24 GB).
PEAK_RSS_LIMIT_MB = 1200

# Runs the CLI and writes the process's peak RSS (kB) to argv[1] when it exits, however it exits.
# VmHWM, not getrusage: Linux carries ru_maxrss over exec, so a child of a big pytest process would
# report the parent's size.
_WRAPPER = ("import atexit, sys; out = sys.argv[1]\n"
            "def peak():\n"
            "    with open('/proc/self/status') as fh:\n"
            "        return next(line.split()[1] for line in fh if line.startswith('VmHWM:'))\n"
            "atexit.register(lambda: open(out, 'w').write(peak()))\n"
            "from cxrlab.cli import main; main(sys.argv[2:])")


def _env() -> dict[str, str]:
    src = str(Path(cxrlab.__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]), "COLUMNS": "100"}


def _cli(args: list[str], rss_file: Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _WRAPPER, str(rss_file), *args], capture_output=True, text=True,
                          env=_env(), timeout=300, **kwargs)


def _peak_mb(rss_file: Path) -> float:
    return int(rss_file.read_text()) / 1024


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    return folder, build_corpus(folder)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    from cxrlab.export.bundle import export_bundle

    root = tmp_path_factory.mktemp("corpus-bundle")
    return export_bundle(make_run(root / "run", thresholds={"COVID": 0.3}), root / "model.cxrlab").path


def _no_traceback(proc: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-3000:]


def test_predict_on_the_corpus(corpus, bundle, tmp_path):
    folder, cases = corpus
    out = tmp_path / "p.csv"
    paths = [str(folder / c.name) for c in cases] + [str(tmp_path / "missing.png")]
    proc = _cli(["predict", str(bundle), *paths, "--out", str(out), "--heatmaps", str(tmp_path / "heat")],
                tmp_path / "rss")
    _no_traceback(proc)
    with open(out, newline="", encoding="utf-8") as fh:
        rows = {Path(r["path"]).name: r for r in csv.DictReader(fh)}
    assert len(rows) == len(paths)  # one row per input, even for those that failed
    failed = {name for name, r in rows.items() if r["error"]}
    assert proc.returncode == (1 if failed else 0), proc.stderr
    assert "missing.png" in failed
    for case in cases:
        row = rows[case.name]
        if case.ok is not None:
            assert (row["error"] == "") == case.ok, (case.name, row["error"])
        if row["error"]:
            assert row["label"] == "" and row["prob_COVID"] == "" and len(row["error"]) > 5
        elif case.warning:
            assert case.warning in row["warnings"], (case.name, row["warnings"])
        elif case.ok:
            assert row["warnings"] == "", (case.name, row["warnings"])
    assert _peak_mb(tmp_path / "rss") < PEAK_RSS_LIMIT_MB
    good = [str(folder / c.name) for c in cases if c.ok]
    proc = _cli(["predict", str(bundle), *good, "--out", str(tmp_path / "good.csv")], tmp_path / "rss2")
    _no_traceback(proc)
    assert proc.returncode == 0, proc.stderr  # nothing failed: exit 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stalled_upload(port: int) -> bytes:
    """Send half a body and go quiet; return what the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\n"
                  b"Content-Length: 100000\r\n\r\n" + b"x" * 1000)
        return s.recv(4096)


def test_serve_on_the_corpus(corpus, bundle, tmp_path):
    folder, cases = corpus
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", _WRAPPER, str(tmp_path / "rss"), "serve", str(bundle),
                               "--port", str(port), "--read-timeout", "0.5"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None and time.monotonic() < deadline, "server did not start"
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        with httpx.Client(base_url=base, timeout=60) as client:
            for case in cases:
                data = (folder / case.name).read_bytes()
                r = client.post("/v1/predict?heatmap=true&image=true", files={"file": (case.name, data)})
                assert r.status_code < 500, (case.name, r.status_code, r.text[:300])
                body = r.json()
                if case.ok is not None:
                    assert (r.status_code == 200) == case.ok, (case.name, r.status_code, r.text[:300])
                if r.status_code == 200:
                    assert body["filename"] == case.name and isinstance(body["warnings"], list)
                    if case.warning:
                        assert any(case.warning in w for w in body["warnings"]), (case.name, body["warnings"])
                else:
                    assert body["error"]["message"] and "probabilities" not in body
            assert b" 408 " in _stalled_upload(port).split(b"\r\n")[0]
            assert client.get("/health").json()["status"] == "ok"  # still up
    finally:
        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=60)
    assert "Traceback" not in stderr, stderr[-3000:]
    assert _peak_mb(tmp_path / "rss") < PEAK_RSS_LIMIT_MB


def test_index_on_the_corpus(corpus, tmp_path):
    folder, cases = corpus
    root = tmp_path / "data"
    shutil.copytree(folder, root / "COVID")
    (root / "Normal").mkdir()
    for name in ("good.png", "good.jpg", "pa.dcm"):
        shutil.copy(folder / name, root / "Normal" / f"n-{name}")
    os.symlink("../Normal", root / "COVID" / "link")
    os.symlink("self", root / "Normal" / "self")
    os.symlink("nowhere.png", root / "Normal" / "gone.png")
    out = tmp_path / "work" / "manifest.csv"
    proc = _cli(["index", str(root), "--out", str(out), "--no-progress", "--workers", "1"], tmp_path / "rss")
    _no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    from cxrlab.data.manifest import read_manifest

    df = read_manifest(out)
    labels = dict(zip((Path(p).name for p in df["path"]), df["label"]))
    assert list(df["label"]).count("Normal") == 3 and all(labels[f"n-{n}"] == "Normal" for n in ("good.png", "good.jpg", "pa.dcm"))
    with open(out.parent / "index_excluded.csv", newline="", encoding="utf-8") as fh:
        excluded = {Path(r["path"]).name: r["reason"] for r in csv.DictReader(fh)}
    with open(out.parent / "index_skipped.csv", newline="", encoding="utf-8") as fh:
        skipped = {Path(r["path"]).name: r["reason"] for r in csv.DictReader(fh)}
    for case in cases:
        assert (case.name in labels) + (case.name in excluded) + (case.name in skipped) == 1, case.name
        if case.excluded:
            assert case.excluded in excluded.get(case.name, ""), (case.name, excluded.get(case.name), skipped.get(case.name))
        if case.ok is False:
            assert case.name in skipped
        if case.ok:
            assert labels[case.name] == "COVID"
    assert {"link", "self", "gone.png"} <= set(skipped)
    assert _peak_mb(tmp_path / "rss") < PEAK_RSS_LIMIT_MB
