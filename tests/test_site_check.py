"""Site check: the bundle's training profile, and a known shift flagged while a same-distribution
folder is not (PNG, JPEG and DICOM folders; old bundles without a profile)."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from typer.testing import CliRunner

from cxrlab.cli import build_app
from cxrlab.data.synthetic.generate import save_dicom
from cxrlab.export.bundle import export_bundle
from cxrlab.export.bundle_file import PROFILE_FILE, read_bundle
from cxrlab.export.feature_space import FeatureSpace, fit_feature_space
from cxrlab.export.profile import conformal_threshold, parse_profile
from cxrlab.site.check import CheckOptions, check_site
from cxrlab.site.compare import domain_auc, outlier_rate
from cxrlab.site.report import write_site_check

from helpers_deploy import film, single_thread_torch
from helpers_site import invert, make_site_run, washed_out, write_films

_one_thread = pytest.fixture(scope="module", autouse=True)(single_thread_torch)
OPTIONS = CheckOptions(permutations=100)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    run = make_site_run(root, films=153)  # 102 in val + test
    bundle = export_bundle(run, root / "model.cxrlab").path
    write_films(root / "same", 60, 10_000)
    write_films(root / "inverted", 60, 20_000, invert)
    write_films(root / "washed", 60, 30_000, washed_out)
    return root, run, bundle


def test_export_puts_a_checksummed_training_profile_of_held_out_films_in_the_bundle(site):
    root, _, path = site
    bundle = read_bundle(path)
    assert bundle.sha256[PROFILE_FILE] and PROFILE_FILE in bundle.extras
    with zipfile.ZipFile(path) as zf:
        assert PROFILE_FILE in zf.read("SHA256SUMS").decode()
    card = bundle.card.to_dict()["training_profile"]
    assert card == {"file": PROFILE_FILE, "films": 102, "reference": "training", "features": True}
    profile = parse_profile(bundle.extras[PROFILE_FILE])
    assert profile.reference["splits"] == ["val", "test"] and profile.reference["readable"] == 102
    assert profile.reference["labels"] == {"COVID": 34, "Normal": 34, "Pneumonia": 34}
    # film statistics as the manifest defines them, no pixels: half the films described out-of-sample
    assert profile.raw["width"].tolist() == [64.0] * 102 and set(profile.raw["bits"]) == {8.0}
    assert profile.coordinates.shape == (51, profile.space.components + 1) and profile.space.dim == 256
    assert len(bundle.extras[PROFILE_FILE]) < 200_000
    assert bundle.card.to_dict()["outputs"]["features"].startswith("pooled penultimate features")


def test_a_same_distribution_folder_is_not_flagged(site):
    root, _, bundle = site
    check = check_site(bundle, root / "same", OPTIONS)
    assert check.level == "like", check.summary["verdict"]
    assert check.summary["features"]["domain"]["auc"] < 0.65
    assert all(d["severity"] == "none" for d in check.summary["images"])
    assert check.summary["site"]["readable"] == 60 and check.summary["cannot_compare"] == []


@pytest.mark.parametrize("folder, moved", [("inverted", "raw_mean"), ("washed", "raw_std")])
def test_a_shifted_folder_is_flagged_unlike_the_training_data(site, folder, moved):
    root, _, bundle = site
    check = check_site(bundle, root / folder, OPTIONS)
    summary = check.summary
    assert check.level == "unlike"
    assert check.verdict == "this site looks unlike the training data: expect the reported metrics not to hold"
    dom = summary["features"]["domain"]
    assert dom["auc"] >= 0.8 and dom["p_value"] < 0.01 and dom["severity"] == "large"
    diff = {d["key"]: d for d in summary["images"]}
    assert diff[moved]["severity"] == "large" and diff["width"]["severity"] == "none"
    assert any("features alone" in r for r in summary["verdict"]["reasons"])


def test_a_larger_darker_dicom_site_and_unreadable_files(site, tmp_path):
    _, _, bundle = site
    folder = tmp_path / "dicoms"
    folder.mkdir()
    for i in range(30):
        pixels = (film(("COVID", "Normal")[i % 2], 40_000 + i, 128).astype(np.uint16) * 8)  # 11-bit, twice the size
        save_dicom(folder / f"f{i}.dcm", pixels, patient_id=f"P{i}")
    (folder / "broken.png").write_bytes(b"not an image")
    check = check_site(bundle, folder, OPTIONS)
    summary = check.summary
    assert summary["site"]["readable"] == 30 and summary["site"]["unreadable"] == 1
    assert "broken.png" in next(iter(summary["site"]["unreadable_examples"]))
    diff = {d["key"]: d for d in summary["images"]}
    assert diff["width"]["severity"] == "large" and "wider" in diff["width"]["note"]
    assert diff["format"]["severity"] == "large" and "DICOM" in diff["format"]["site"]
    assert summary["site"]["raw"]["median_width"] == 128
    assert check.level in ("different", "unlike")


def test_a_file_list_and_a_manifest_dataframe_work_like_a_folder(site):
    import pandas as pd

    root, _, bundle = site
    files = sorted((root / "inverted").glob("*.png"))[:40]
    by_list = check_site(bundle, files, CheckOptions(permutations=0))
    by_frame = check_site(bundle, pd.DataFrame({"path": [str(f) for f in files]}), CheckOptions(permutations=0))
    assert by_list.summary["site"]["readable"] == by_frame.summary["site"]["readable"] == 40
    assert by_list.summary["features"]["domain"]["auc"] == by_frame.summary["features"]["domain"]["auc"]
    assert by_list.summary["features"]["domain"]["p_value"] is None  # no permutations: judged by AUC alone


def test_a_bundle_without_a_profile_says_what_it_cannot_compare(site, tmp_path):
    root, run, _ = site
    old = export_bundle(run, tmp_path / "old.cxrlab", profile_films=0)
    assert PROFILE_FILE not in read_bundle(old.path).extras
    check = check_site(old.path, root / "inverted", OPTIONS)
    assert check.level == "unknown" and "cannot compare" in check.verdict
    assert any("training profile disabled" in c for c in check.summary["cannot_compare"])
    assert sum(check.summary["predictions"]["site_mix"].values()) == pytest.approx(1.0)
    paths = write_site_check(check, tmp_path / "report")
    assert "Cannot compare" in paths["html"].read_text()


def test_report_and_cli_show_the_verdict_first(site, tmp_path):
    root, _, bundle = site
    out = tmp_path / "check"
    result = CliRunner().invoke(build_app(), ["site-check", str(bundle), str(root / "inverted"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "this site looks unlike the training data" in result.output
    data = json.loads((out / "site_check.json").read_text())
    assert data["verdict"]["level"] == "unlike" and data["features"]["available"]
    html = (out / "site_check.html").read_text()
    assert html.index("Verdict") < html.index("What the films look like") < html.index("What the model sees")
    assert html.count("data:image/png;base64") >= 3 + 16  # figures + two galleries of 8
    assert "<script" not in html


def test_feature_space_and_statistics():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 40)) * np.linspace(3, 0.1, 40)
    space = fit_feature_space(x, 8)
    again = FeatureSpace.from_dict(json.loads(json.dumps(space.to_dict())))
    assert np.allclose(again.project(x[:5]), space.project(x[:5]), atol=1e-4)
    z = space.project(x)
    assert np.allclose(z.std(axis=0, ddof=1), 1, atol=1e-6) and space.components == 8
    far = x[:5] + 100 * np.eye(40)[39]  # off the subspace: caught by the residual
    assert (space.score(far) > space.score(x[:5]) + 100).all()
    threshold, expected = conformal_threshold(np.arange(1, 51, dtype=float), 0.99)
    assert threshold == 50 and expected == pytest.approx(1 / 51)
    assert conformal_threshold(np.arange(1, 201, dtype=float), 0.99) == (199.0, pytest.approx(2 / 201))
    a, b = rng.normal(size=(150, 6)), rng.normal(size=(150, 6))
    assert domain_auc(a, b, permutations=50)["auc"] < 0.62
    wider = domain_auc(a, b * 2.0, permutations=50)  # same centre, twice the spread
    assert wider["auc"] > 0.8 and wider["p_value"] < 0.05
    assert outlier_rate(np.r_[np.zeros(90), np.ones(10) * 9], 5.0, 0.01)["severity"] == "moderate"
    assert outlier_rate(np.zeros(100), 5.0, 0.01)["severity"] == "none"
    # 5 of 40 above the largest of 30 reference scores: not surprising once the threshold's own
    # uncertainty counts (beta-binomial), though a binomial test at 1/31 would call it significant
    few = outlier_rate(np.r_[np.zeros(35), np.ones(5) * 9], 5.0, 1 / 31, reference_n=30)
    assert few["p_value"] > 0.05 and few["severity"] == "none"


def test_site_check_and_recalibration_need_no_torch(site, tmp_path):
    import subprocess
    import sys

    root, _, bundle = site
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label\n" + "".join(f"{p},{p.name.split('_')[0]}\n" for p in sorted((root / "same").glob("*.png"))))
    code = (
        "import sys, importlib.abc\n"  # any 'import torch' now fails (scipy probes sys.modules, so no None entry)
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] == 'torch': raise ImportError('torch is blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from cxrlab.site.check import CheckOptions, check_site\n"
        "from cxrlab.site.report import write_site_check\n"
        "from cxrlab.site.recalibrate import RecalibrateOptions, recalibrate_bundle\n"
        f"c = check_site({str(bundle)!r}, {str(root / 'same')!r}, CheckOptions(permutations=10))\n"
        f"write_site_check(c, {str(tmp_path / 'out')!r})\n"
        f"recalibrate_bundle({str(bundle)!r}, {str(labels)!r}, {str(tmp_path / 'r.cxrlab')!r}, RecalibrateOptions(n_boot=10))\n"
        "assert 'torch' not in sys.modules\n"
        "print(c.level)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() in ("like", "different") and (tmp_path / "r.cxrlab").exists()
