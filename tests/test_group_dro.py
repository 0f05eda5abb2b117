"""Group DRO: the exponentiated-gradient step on hand-computed numbers, and a real training run."""

import math

import numpy as np
import pytest
import torch
from helpers_train import make_two_source_manifest, tiny_overrides

from cxrlab.artifacts.checkpoint import load_train_state
from cxrlab.train.config import load_train_config
from cxrlab.train.fit import fit
from cxrlab.train.group_dro import GroupDROLoss, cell_counts, source_ids
from cxrlab.train.losses import build_criterion


def test_source_ids_and_cell_counts():
    ids, names = source_ids(np.array(["b", "a", "b", "b", "a"]))
    assert names == ["a", "b"] and ids.tolist() == [1, 0, 1, 1, 0]
    counts = cell_counts(np.array([1, 0, 0, 1, 0]), ids, num_classes=3, num_sources=2)
    assert counts.tolist() == [[2, 1], [0, 2], [0, 0]]  # class 0: sources a, b, a; class 1: b, b


def test_one_step_matches_the_hand_computed_update():
    # class 0 from two sources (cells 0 and 1, 10 and 40 films); class 1 has no films (cells 2, 3).
    # Logits chosen so the per-sample cross-entropies are exactly ln 2, ln 2 and ln(1 + e^2).
    loss_fn = GroupDROLoss(np.array([[10, 40], [0, 0]]), eta=0.5, adjustment=1.0, classes=["COVID", "Normal"],
                           sources=["x", "y"])
    logits = torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 2.0]])
    loss = loss_fn(logits, torch.tensor([0, 0, 0]), torch.tensor([0, 0, 1]))
    l0, l1 = math.log(2), math.log(1 + math.e ** 2)  # cell 0: mean of two ln 2; cell 1: one sample
    a0, a1 = 0.5 * math.exp(0.5 * (l0 + 1 / math.sqrt(10))), 0.5 * math.exp(0.5 * (l1 + 1 / math.sqrt(40)))
    q0, q1 = a0 / (a0 + a1), a1 / (a0 + a1)
    assert loss_fn.q.tolist() == pytest.approx([q0, q1, 0, 0], rel=1e-5)
    assert float(loss) == pytest.approx(q0 * l0 + q1 * l1, rel=1e-5)
    assert q1 > 0.5  # the worse group gains weight
    assert loss_fn.epoch_note() == f"group-dro weights: COVID / y {q1:.3f}, COVID / x {q0:.3f}"


def test_absent_groups_keep_their_relative_weight_and_validation_is_plain_mean():
    loss_fn = GroupDROLoss(np.array([[5, 5, 5], [0, 0, 0]]), eta=1.0)
    logits = torch.tensor([[0.0, 3.0], [3.0, 0.0]])
    target = torch.tensor([0, 0])
    loss_fn(logits, target, torch.tensor([0, 0]))  # only cell 0 present
    q = loss_fn.q.tolist()
    assert q[0] > q[1] and q[1] == pytest.approx(q[2]) and q[3:] == [0, 0, 0]
    before = loss_fn.q.clone()
    plain = loss_fn(logits, target)
    assert float(plain) == pytest.approx(float(torch.nn.functional.cross_entropy(logits, target)))
    assert torch.equal(loss_fn.q, before)


def test_gradient_is_the_group_weighted_gradient():
    loss_fn = GroupDROLoss(np.array([[1, 1], [1, 1]]), eta=0.0)  # eta 0: q stays uniform (1/4 per cell)
    logits = torch.tensor([[0.3, -0.2], [1.0, 0.5], [0.1, 0.9]], requires_grad=True)
    target, source = torch.tensor([0, 1, 1]), torch.tensor([0, 0, 0])  # cells 0, 2, 2
    loss_fn(logits, target, source).backward()
    ref = logits.detach().clone().requires_grad_(True)
    ce = torch.nn.functional.cross_entropy(ref, target, reduction="none")
    (0.25 * ce[0] + 0.25 * ce[1:].mean()).backward()
    assert torch.allclose(logits.grad, ref.grad)


def test_bad_group_counts_and_build_criterion_refuse():
    for bad in (np.array([3, 1]), np.array([[0, 0]]), np.array([[2, -1]])):
        with pytest.raises(ValueError, match="table of sample counts"):
            GroupDROLoss(bad)
    with pytest.raises(ValueError, match="group indices"):
        build_criterion("group-dro", np.array([0, 1]), 2)


@pytest.mark.slow
def test_training_with_group_dro_logs_and_saves_the_group_weights(tmp_path):
    torch.set_num_threads(1)
    make_two_source_manifest(tmp_path, per_class=10)
    cfg = load_train_config(None, tiny_overrides(tmp_path, epochs=2) + ["loss.imbalance=group-dro", "loss.dro_eta=0.1"])
    run = fit(cfg)
    log = (run / "log.txt").read_text()
    assert log.count("group-dro weights:") == 2 and "COVID / other-hospital" in log
    q = load_train_state(run / "checkpoints/last")["criterion"]["q"]
    assert q.shape == (6,) and float(q.sum()) == pytest.approx(1.0) and not torch.allclose(q, torch.full((6,), 1 / 6))


COUNTS = np.array([[4, 2], [2, 3], [6, 1]])  # 3 classes x 2 sources


def _ddp_worker(rank, world, init_file, out_dir):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        x, target, source = _ddp_batch()
        layer = _layer()
        half = slice(rank * 3, rank * 3 + 3)
        loss_fn = GroupDROLoss(COUNTS, eta=0.3)
        loss_fn(layer(x[half]), target[half], source[half]).backward()
        grad = layer.weight.grad.clone()
        dist.all_reduce(grad)  # what DDP does to parameter gradients: their mean over ranks
        torch.save({"q": loss_fn.q, "grad": grad / world}, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _ddp_batch():
    gen = torch.Generator().manual_seed(3)
    return torch.randn(6, 4, generator=gen), torch.tensor([0, 1, 2, 2, 1, 0]), torch.tensor([0, 1, 0, 1, 1, 0])


def _layer():
    torch.manual_seed(5)
    return torch.nn.Linear(4, 3)


def test_two_processes_keep_one_q_and_the_full_batch_gradient(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    x, target, source = _ddp_batch()
    layer, single = _layer(), GroupDROLoss(COUNTS, eta=0.3)
    single(layer(x), target, source).backward()
    for rank in (0, 1):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert torch.allclose(got["q"], single.q)
        assert torch.allclose(got["grad"], layer.weight.grad, atol=1e-6)
