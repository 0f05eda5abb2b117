"""optim.ema_decay: validation and checkpoints use the weight average; resume continues it exactly."""

import pytest
import torch
from helpers_train import make_manifest, tiny_overrides
from safetensors.torch import load_file

from cxrlab.artifacts.checkpoint import load_train_state
from cxrlab.errors import ConfigError
from cxrlab.train.config import OptimConfig, load_train_config
from cxrlab.train.fit import fit

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


@pytest.mark.parametrize("decay", [-0.1, 1.0, 1.5])
def test_ema_decay_out_of_range_is_refused(decay):
    with pytest.raises(ConfigError, match="ema_decay"):
        OptimConfig(ema_decay=decay)


def test_a_too_slow_average_for_the_run_length_is_named():
    from cxrlab.train.setup import average_lag_note

    assert average_lag_note(0.995, 564) == ""  # the measured recipe: 6 epochs x 94 steps
    note = average_lag_note(0.995, 20)
    assert "90%" in note and "optim.ema_decay=0.7943" in note
    assert average_lag_note(0.0, 20) == ""


def _cfg(root, name, epochs, extra=()):
    return load_train_config(None, tiny_overrides(root, name=name, epochs=epochs) + ["patience=0", *extra])


def _weights(run, which):
    return load_file(str(run / "checkpoints" / which / "weights.safetensors"))


def test_checkpoints_hold_the_average_and_the_state_the_raw_weights(tmp_path):
    make_manifest(tmp_path, per_class=10)
    plain = fit(_cfg(tmp_path, "plain", 2))
    averaged = fit(_cfg(tmp_path, "ema", 2, ["optim.ema_decay=0.9"]))
    state = load_train_state(averaged / "checkpoints" / "last")
    saved, raw = _weights(averaged, "last"), state["raw_weights"]
    assert saved.keys() == raw.keys()
    # same seed, same data stream: the optimizer's weights are the plain run's, the checkpoint's their average
    for key, value in _weights(plain, "last").items():
        assert torch.equal(raw[key], value), key
    conv = next(k for k in saved if k.endswith("weight") and saved[k].ndim == 4)
    assert not torch.equal(saved[conv], raw[conv])
    assert "raw_weights" not in load_train_state(plain / "checkpoints" / "last")


class _Crash(Exception):
    pass


def test_resume_continues_the_average(tmp_path, monkeypatch):
    import cxrlab.train.fit as fit_module

    make_manifest(tmp_path, per_class=10)
    extra = ["optim.ema_decay=0.8"]
    full = fit(_cfg(tmp_path, "full", 3, extra))
    save = fit_module._save

    def save_then_crash(*args, **kwargs):
        save(*args, **kwargs)
        raise _Crash  # the process dies right after its first checkpoint

    monkeypatch.setattr(fit_module, "_save", save_then_crash)
    with pytest.raises(_Crash):
        fit(_cfg(tmp_path, "cut", 3, extra))
    monkeypatch.setattr(fit_module, "_save", save)
    cut = fit(_cfg(tmp_path, "cut", 3, extra), resume=tmp_path / "runs" / "cut")
    assert "resumed after epoch 1" in (cut / "log.txt").read_text()
    for key, value in _weights(full, "last").items():
        assert torch.equal(_weights(cut, "last")[key], value), key
    raw_full = load_train_state(full / "checkpoints" / "last")["raw_weights"]
    raw_cut = load_train_state(cut / "checkpoints" / "last")["raw_weights"]
    for key, value in raw_full.items():
        assert torch.equal(raw_cut[key], value), key
