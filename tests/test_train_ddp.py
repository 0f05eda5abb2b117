"""DistributedDataParallel with 2 CPU processes (gloo) through torchrun."""

import json
import os
import subprocess
import sys

import pytest
from helpers_train import make_manifest, tiny_overrides

from cxrlab.models.loading import load_checkpoint

pytestmark = pytest.mark.slow


def test_torchrun_two_cpu_processes(tmp_path):
    make_manifest(tmp_path, per_class=12, size=32)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "cxrlab", "train"]
    for override in tiny_overrides(tmp_path, name="ddp", epochs=2):
        cmd += ["--set", override]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "runs" / "ddp"
    log = (run / "log.txt").read_text()
    assert "x2" in log and log.count("epoch 1:") == 1  # one writer (rank 0)
    history = json.loads((run / "history.json").read_text())
    # 18 training images -> 9 per rank -> one batch of 8 per rank (drop_last): 16 images per epoch in all
    assert [r["train_images"] for r in history] == [16, 16]
    assert len(list(tmp_path.glob("runs/*"))) == 1
    model, meta = load_checkpoint(run)
    assert meta.classes == ("COVID", "Normal", "Pneumonia")
