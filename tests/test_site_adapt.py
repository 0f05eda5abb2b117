"""Adaptation without labels (AdaBN): exact BatchNorm statistics, a new checksummed bundle whose
card records the adaptation, refusal of small folders, warning on single-class folders."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from cxrlab.artifacts.checkpoint import save_checkpoint
from cxrlab.cli import build_app
from cxrlab.data.preprocess import to_model_input
from cxrlab.export.bundle_file import PROFILE_FILE, read_bundle
from cxrlab.export.profile import parse_profile
from cxrlab.models.loading import load_checkpoint
from cxrlab.predict.predictor import Predictor
from cxrlab.site.adapt import AdaptOptions, adapt_batchnorm, adapt_run, batchnorm_layers
from cxrlab.site.check import CheckOptions, check_site
from cxrlab.site.inputs import SiteError

from helpers_deploy import film, make_run, single_thread_torch
from helpers_site import washed_out, write_films

_one_thread = pytest.fixture(scope="module", autouse=True)(single_thread_torch)


@pytest.fixture(scope="module")
def adapted(tmp_path_factory):
    root = tmp_path_factory.mktemp("adapt")
    run = make_run(root / "run")
    write_films(root / "site", 60, 50_000, washed_out)
    report = adapt_run(run, root / "site", root / "site.cxrlab", AdaptOptions(seed=3),
                       checkpoint_out=root / "adapted-ckpt")
    return root, run, report


def test_batchnorm_statistics_are_exactly_the_site_statistics():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5), nn.Conv2d(4, 2, 3),
                          nn.BatchNorm2d(2)).eval()
    views = np.stack([washed_out(film("Normal", i, 16)) for i in range(8)])
    x = torch.from_numpy(to_model_input(views, [0.5], [0.25]))
    conv_out = model[0](x).detach()
    for batch in (8, 4):  # one batch, or equal batches: the cumulative average is the overall mean
        new, change = adapt_batchnorm(model, views, [0.5], [0.25], 1, batch_size=batch)
        bn = new[1]
        assert torch.allclose(bn.running_mean, conv_out.mean(dim=(0, 2, 3)), atol=1e-5)
        assert not bn.training and not new[3].training and change["batchnorm_layers"] == 2
    assert torch.allclose(bn.running_var, conv_out.var(dim=(0, 2, 3), unbiased=True), rtol=0.05)
    new, _ = adapt_batchnorm(model, views, [0.5], [0.25], 1, batch_size=8)
    assert torch.allclose(new[1].running_var, conv_out.var(dim=(0, 2, 3), unbiased=True), atol=1e-5)
    assert torch.equal(new[0].weight, model[0].weight) and torch.equal(model[1].running_mean, torch.zeros(4))
    with pytest.raises(SiteError, match="no BatchNorm"):
        adapt_batchnorm(nn.Sequential(nn.Conv2d(1, 2, 3)), views, [0.5], [0.25], 1)


def test_adapted_bundle_is_checksummed_and_its_card_records_the_adaptation(adapted):
    root, run, report = adapted
    bundle = read_bundle(report.export.path)
    card = bundle.card.to_dict()
    rec = card["adaptation"]
    assert rec["films_used"] == 60 and rec["films_found"] == 60 and rec["unreadable"] == 0
    assert rec["site"] == "site" and rec["folder"] == str(root / "site") and rec["date"][:2] == "20"
    assert "9 BatchNorm layers" in rec["changed"] and "temperature" in rec["changed"]
    assert rec["statistics_shift"]["mean_shift_in_sd"] > 0
    assert card["name"] == "run-adapted-site" and any("Adapted to one site" in t for t in card["limitations"])
    assert "before adaptation" in card["metrics"]["note"]
    profile = parse_profile(bundle.extras[PROFILE_FILE])
    assert profile.reference["kind"] == "adaptation" and profile.films == 60
    assert card["training_profile"]["reference"] == "adaptation"
    # the weights are the run's, the BatchNorm statistics are new
    original, _ = load_checkpoint(run)
    saved, meta = load_checkpoint(report.checkpoint)
    assert torch.equal(saved.features[0][0].weight, original.features[0][0].weight)
    old_bn, new_bn = batchnorm_layers(original)[0], batchnorm_layers(saved)[0]
    assert not torch.allclose(old_bn.running_mean, new_bn.running_mean)
    assert (report.checkpoint / "adaptation.json").exists() and meta.architecture == "cnn-small"
    # the bundle predicts with the adapted model, torch-free
    predictor = Predictor.from_bundle(report.export.path)
    view = predictor.load(next((root / "site").glob("*.png")))
    with torch.no_grad():
        expected = torch.softmax(saved(torch.from_numpy(to_model_input(view[None], meta.mean, meta.std))), 1)
    got = predictor.predict_views(view[None])[0].probabilities
    assert np.allclose(list(got.values()), expected.numpy()[0], atol=1e-4)


def test_site_check_of_the_adapted_bundle_compares_with_the_adaptation_films(adapted, tmp_path):
    root, _, report = adapted
    write_films(tmp_path / "later", 40, 60_000, washed_out)  # a later batch from the same site
    check = check_site(report.export.path, tmp_path / "later", CheckOptions(permutations=100))
    assert check.level == "like", check.summary["verdict"]
    assert check.summary["reference"]["kind"] == "adaptation"


def test_too_few_films_are_refused_unless_forced(tmp_path):
    run = make_run(tmp_path / "run")
    write_films(tmp_path / "small", 12, 0)
    with pytest.raises(SiteError, match=r"only 12 readable films.*at least 50.*--force"):
        adapt_run(run, tmp_path / "small", tmp_path / "a.cxrlab")
    assert not (tmp_path / "a.cxrlab").exists()
    report = adapt_run(run, tmp_path / "small", tmp_path / "a.cxrlab", AdaptOptions(force=True))
    assert report.record["forced"] and any("(forced)" in w for w in report.warnings)
    assert read_bundle(report.export.path).card.to_dict()["adaptation"]["warnings"] == list(report.warnings)


def test_a_folder_the_model_calls_one_class_gets_a_warning(tmp_path):
    run = make_run(tmp_path / "run")
    model, meta = load_checkpoint(run)
    with torch.no_grad():
        model.classifier.bias.copy_(torch.tensor([30.0, 0.0, 0.0]))  # everything looks like COVID
    save_checkpoint(run / "checkpoints" / "best", model, meta)
    write_films(tmp_path / "covid-only", 50, 0, labels=("COVID",))
    result = CliRunner().invoke(build_app(), ["adapt", str(run), str(tmp_path / "covid-only"),
                                              "--out", str(tmp_path / "c.cxrlab")])
    assert result.exit_code == 0, result.output
    assert "calls 100% of these films COVID" in result.output and "representative mix" in result.output
    card = read_bundle(tmp_path / "c.cxrlab").card.to_dict()
    assert card["adaptation"]["predicted_mix_before"]["COVID"] == 1.0
    assert "re-estimated 9 BatchNorm layers on 50 films" in result.output
