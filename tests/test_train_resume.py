"""kill -9 a training process after its first checkpoint; --resume must end on the same weights."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from helpers_train import make_manifest, tiny_overrides
from safetensors.torch import load_file


pytestmark = pytest.mark.slow


def _train_cmd(root, name):
    cmd = [sys.executable, "-m", "cxrlab", "train"]
    for override in tiny_overrides(root, name=name, epochs=5) + ["patience=0"]:
        cmd += ["--set", override]
    return cmd


def test_resume_after_kill_matches_uninterrupted_run(tmp_path):
    make_manifest(tmp_path, per_class=12)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(_train_cmd(tmp_path, "full"), env=env, check=True, capture_output=True, timeout=300)

    proc = subprocess.Popen(_train_cmd(tmp_path, "crash"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = tmp_path / "runs" / "crash" / "checkpoints" / "last"
    deadline = time.monotonic() + 240
    while not (last / "checkpoint.json").exists():
        assert proc.poll() is None, "training ended before its first checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed_at = json.loads((last / "checkpoint.json").read_text())["epoch"] if (last / "checkpoint.json").exists() else 0
    assert killed_at < 5, "the run finished before it could be killed"

    resumed = subprocess.run([sys.executable, "-m", "cxrlab", "train", "--resume", str(tmp_path / "runs" / "crash"),
                              "--no-progress"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed after epoch" in (tmp_path / "runs" / "crash" / "log.txt").read_text()
    full = load_file(str(tmp_path / "runs/full/checkpoints/last/weights.safetensors"))
    again = load_file(str(last / "weights.safetensors"))
    assert full.keys() == again.keys()
    for key in full:
        assert (full[key] == again[key]).all(), key
    h_full = json.loads((tmp_path / "runs/full/history.json").read_text())
    h_again = json.loads((tmp_path / "runs/crash/history.json").read_text())
    assert [r["val_loss"] for r in h_full] == [r["val_loss"] for r in h_again]
