"""Batch prediction from a bundle: path collection, CSV with bad files among good ones, torch
parity through the real file pipeline, DICOM handling, decisions, heatmaps, CLI."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from cxrlab.cli import build_app
from cxrlab.data.model_view import read_view
from cxrlab.data.preprocess import to_model_input
from cxrlab.errors import CxrlabError
from cxrlab.export.bundle import export_bundle
from cxrlab.io.images import read_image
from cxrlab.models.loading import load_checkpoint
from cxrlab.predict.batch import predict_files, write_csv
from cxrlab.predict.decision import class_thresholds, decide
from cxrlab.predict.files import collect_paths
from cxrlab.predict.predictor import Predictor

from helpers_deploy import film, make_run, single_thread_torch

_one_thread = pytest.fixture(scope="module", autouse=True)(single_thread_torch)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundle")
    run = make_run(root / "run", thresholds={"COVID": 0.2}, temperature=2.0)
    return run, export_bundle(run, root / "model.cxrlab").path


def _read(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_csv_has_a_row_per_file_with_errors_for_bad_files_and_never_stops(bundle, image_files, tmp_path):
    _, path = bundle
    predictor = Predictor.from_bundle(path)
    (tmp_path / "truncated.png").write_bytes(image_files["png8"].read_bytes()[:150])
    (tmp_path / "notes.png").write_text("hello")
    (tmp_path / "empty.jpg").write_bytes(b"")
    paths = [*image_files.values(), tmp_path / "truncated.png", tmp_path / "notes.png", tmp_path / "empty.jpg",
             tmp_path / "missing.png"]
    counts = write_csv(predict_files(predictor, paths, batch_size=3, heatmap_dir=tmp_path / "heat"), tmp_path / "p.csv",
                       predictor.classes)
    rows = _read(tmp_path / "p.csv")
    assert [r["path"] for r in rows] == [str(p) for p in paths]
    assert counts["images"] == len(paths) and counts["errors"] == 4
    bad = {r["path"].rsplit("/", 1)[-1]: r["error"] for r in rows if r["error"]}
    assert "truncated" in bad["truncated.png"] and "not a recognised" in bad["notes.png"]
    assert "empty" in bad["empty.jpg"] and "cannot read" in bad["missing.png"]
    for row in rows:
        if row["error"]:
            assert row["label"] == "" and row["prob_COVID"] == ""
            continue
        probs = [float(row[f"prob_{c}"]) for c in predictor.classes]
        assert abs(sum(probs) - 1) < 1e-4 and row["label"] == predictor.classes[int(np.argmax(probs))]
        expected = "COVID" if probs[0] >= 0.2 else max(("Normal", "Pneumonia"), key=lambda c: float(row[f"prob_{c}"]))
        assert row["decision"] == expected
        film_size = (read_image(row["path"]).width, read_image(row["path"]).height)
        assert Image.open(row["heatmap"]).size == film_size  # drawn on the film, not the model view


def test_no_probabilities_for_pydicoms_corpus_and_header_fields_in_the_csv(bundle, image_files, tmp_path):
    import warnings

    from pydicom.data.data_manager import DATA_ROOT

    _, path = bundle
    predictor = Predictor.from_bundle(path)
    files = sorted((Path(DATA_ROOT) / "test_files").glob("*.dcm")) + [image_files["dicom_m2"], image_files["png8"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        counts = write_csv(predict_files(predictor, files, batch_size=16), tmp_path / "p.csv", predictor.classes)
    rows = _read(tmp_path / "p.csv")
    corpus, dx, png = rows[:-2], rows[-2], rows[-1]
    assert counts["errors"] == len(corpus) and all(r["error"] and r["prob_COVID"] == "" for r in corpus)
    assert sum(r["error"].startswith("not a chest radiograph: ") for r in corpus) == 64
    assert {k: dx[k] for k in ("modality", "view", "body_part", "photometric", "transfer_syntax")} == {
        "modality": "DX", "view": "PA", "body_part": "CHEST", "photometric": "MONOCHROME2",
        "transfer_syntax": "ExplicitVRLittleEndian"}
    assert dx["prob_COVID"] and png["prob_COVID"] and png["modality"] == ""


def test_predictor_matches_the_torch_model_with_temperature(bundle, image_files):
    run, path = bundle
    model, meta = load_checkpoint(run)
    predictor = Predictor.from_bundle(path)
    rows = list(predict_files(predictor, [image_files["jpeg"], image_files["png16"]]))
    # the reference view is training's (the cache's decode), which predict must reproduce
    gray = np.stack([read_view(p, meta.preprocess) for p in (image_files["jpeg"], image_files["png16"])])
    with torch.no_grad():
        probs = torch.softmax(model(torch.from_numpy(to_model_input(gray, meta.mean, meta.std))) / 2.0, dim=1).numpy()
    got = np.array([[float(r[f"prob_{c}"]) for c in meta.classes] for r in rows])
    assert np.abs(got - probs).max() < 1e-5


def test_monochrome1_and_monochrome2_dicoms_of_one_film_get_the_same_answer(bundle, image_files):
    predictor = Predictor.from_bundle(bundle[1])
    m1, m2 = (predictor.predict_views(predictor.load(image_files[k])[None])[0] for k in ("dicom_m1", "dicom_m2"))
    assert m1.label == m2.label
    assert max(abs(m1.probabilities[c] - m2.probabilities[c]) for c in predictor.classes) < 1e-3


def test_collect_paths_folders_globs_and_dicoms_without_suffix(image_files, tmp_path):
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    shutil.copy(image_files["png8"], root / "a.png")
    shutil.copy(image_files["jpeg"], root / "sub" / "b.jpg")
    shutil.copy(image_files["dicom_m2"], root / "sub" / "IM0001")  # DICOM files often have no suffix
    (root / "README").write_text("not an image")
    (root / "notes.txt").write_text("not an image")
    paths, warnings = collect_paths([str(root), str(root / "*.png"), str(tmp_path / "none" / "*.png")])
    assert [p.name for p in paths] == ["a.png", "IM0001", "b.jpg"]
    assert warnings and "matched no image" in warnings[0]
    paths, _ = collect_paths([str(root / "**" / "*.jpg")])
    assert [p.name for p in paths] == ["b.jpg"]
    with pytest.raises(CxrlabError, match="no images found"):
        collect_paths([str(tmp_path / "empty-*")])


@pytest.mark.parametrize("probs, thresholds, label, flagged", [
    ([0.7, 0.3], {}, "A", ()),
    ([0.3, 0.7], {"B": 0.8}, "A", ()),  # binary below threshold -> the other class
    ([0.3, 0.7], {"B": 0.6}, "B", ("B",)),
    ([0.5, 0.3, 0.2], {"B": 0.25, "C": 0.1}, "B", ("B", "C")),  # most probable flagged class wins
    ([0.5, 0.3, 0.2], {"A": 0.9, "B": 0.9, "C": 0.9}, "none", ()),
])
def test_decision_at_operating_thresholds(probs, thresholds, label, flagged):
    classes = ["A", "B", "C"][:len(probs)]
    decision = decide(probs, classes, class_thresholds(thresholds, classes))
    assert (decision.label, decision.flagged) == (label, flagged)


def test_threshold_parsing_ignores_junk():
    assert class_thresholds({"A": 0.3, "B": {"threshold": 0.6}, "C": "x", "Z": 0.1, "A2": 2}, ["A", "B", "C"]) == {"A": 0.3, "B": 0.6}


def test_predict_cli_writes_csv_and_heatmaps(bundle, image_files, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG garbage")
    out = tmp_path / "pred.csv"
    args = ["predict", bundle[1], str(image_files["png8"]), str(bad), str(image_files["dicom_m1"]),
            "--out", str(out), "--heatmaps", str(tmp_path / "heat"), "--batch-size", "2"]
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 1, result.output  # one input could not be predicted
    assert "3 images, 1 unreadable" in result.output and "1 of 3 input(s) could not be predicted" in result.output
    rows = _read(out)
    assert len(rows) == 3 and rows[1]["error"] and not rows[0]["error"] and not rows[2]["error"]
    assert len(list((tmp_path / "heat").glob("*.png"))) == 2
    film_png = tmp_path / "f.png"
    Image.fromarray(film()).save(film_png)
    assert CliRunner().invoke(build_app(), ["predict", str(tmp_path / "nope.cxrlab"), str(film_png)]).exit_code != 0


def _dicom(path, view="PA", pixels=None):
    from cxrlab.data.synthetic.generate import save_dicom

    return save_dicom(path, (film() if pixels is None else pixels).astype(np.uint16) * 16, view=view)


def test_lateral_and_degenerate_films_are_predicted_with_warnings(bundle, tmp_path):
    predictor = Predictor.from_bundle(bundle[1])
    files = {
        "pa.dcm": _dicom(tmp_path / "pa.dcm"),
        "lateral.dcm": _dicom(tmp_path / "lateral.dcm", view="LL"),
        "dot.png": tmp_path / "dot.png", "sliver.png": tmp_path / "sliver.png", "blank.png": tmp_path / "blank.png",
    }
    Image.fromarray(np.full((1, 1), 9, np.uint8)).save(files["dot.png"])
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (1, 20000), dtype=np.uint8)).save(files["sliver.png"])
    Image.fromarray(np.full((200, 200), 128, np.uint8)).save(files["blank.png"])
    write_csv(predict_files(predictor, list(files.values())), tmp_path / "p.csv", predictor.classes)
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in _read(tmp_path / "p.csv")}
    assert all(r["error"] == "" and r["label"] for r in rows.values())  # flagged, still predicted
    assert rows["pa.dcm"]["warnings"] == ""
    assert "lateral view (ViewPosition=LL)" in rows["lateral.dcm"]["warnings"]
    assert rows["dot.png"]["warnings"] == "degenerate image: 1x1 (under 16 pixels on a side)"
    assert rows["sliver.png"]["warnings"] == "degenerate image: 20000x1 (under 16 pixels on a side)"
    assert rows["blank.png"]["warnings"] == "degenerate image: 200x200 with constant pixels (all 128)"


def test_reader_warnings_are_kept_and_not_repeated(bundle, tmp_path, monkeypatch):
    from cxrlab.io import images
    from cxrlab.predict import predictor as predictor_module

    real = images.read_image

    def reader_that_warns(*args, **kwargs):
        image = real(*args, **kwargs)
        return images.LoadedImage(image.pixels, image.bits, image.format, image.meta,
                                  warnings=("lateral view according to the header", "multi-frame: first frame used"))

    monkeypatch.setattr(predictor_module, "read_image", reader_that_warns)
    film_ = Predictor.from_bundle(bundle[1]).read(_dicom(tmp_path / "lat.dcm", view="LL"))
    assert film_.warnings == ("lateral view according to the header", "multi-frame: first frame used")


def test_exit_status_is_nonzero_exactly_when_an_input_fails(bundle, image_files, tmp_path):
    app, model = build_app(), str(bundle[1])
    ok = CliRunner().invoke(app, ["predict", model, str(image_files["png8"]), "--out", str(tmp_path / "a.csv")])
    assert ok.exit_code == 0, ok.output
    missing = CliRunner().invoke(app, ["predict", model, str(tmp_path / "missing.png"), "--out", str(tmp_path / "b.csv")])
    assert missing.exit_code == 1 and len(_read(tmp_path / "b.csv")) == 1
    (tmp_path / "junk.png").write_text("junk")
    all_bad = CliRunner().invoke(app, ["predict", model, str(tmp_path / "junk.png"), str(tmp_path / "missing.png"),
                                       "--out", str(tmp_path / "c.csv")])
    assert all_bad.exit_code == 1 and [r["error"] != "" for r in _read(tmp_path / "c.csv")] == [True, True]


def test_unwritable_out_is_a_plain_error_before_any_work(bundle, image_files, tmp_path):
    from cxrlab.cli import main

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    args = ["predict", str(bundle[1]), str(image_files["png8"]), "--out", str(blocker / "pred.csv")]
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code != 0 and isinstance(result.exception, CxrlabError)
    assert "cannot write there" in str(result.exception)
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2


def test_predict_prints_no_pydicom_warning_and_puts_it_in_the_warnings_column(bundle, tmp_path):
    from test_reader_warnings import odd_dicom

    path = odd_dicom(tmp_path / "odd.dcm")
    out = tmp_path / "p.csv"
    result = CliRunner().invoke(build_app(), ["predict", str(bundle[1]), str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "UserWarning" not in result.output and "valuerep" not in result.output
    row = _read(out)[0]
    assert row["label"] and row["warnings"] == (
        "DICOM: Invalid value for VR IS: '1.5'.; DICOM: Value \"1.5\" is not valid for elements with a VR of IS")


def test_predict_sees_the_pixels_training_saw_for_a_jpeg(bundle, tmp_path):
    """The bundle's view of a JPEG equals the training cache's (DCT-scaled decode), not a full decode."""
    from cxrlab.data.cache.worker import cache_image

    _, path = bundle
    predictor = Predictor.from_bundle(path)
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:480, 0:480] / 480
    pixels = np.clip(128 + 60 * np.sin(9 * xx) * np.cos(7 * yy) + rng.normal(0, 25, (480, 480)), 0, 255)
    jpeg = tmp_path / "film.jpg"
    Image.fromarray(pixels.astype(np.uint8)).save(jpeg, quality=90)
    film_read = predictor.read(jpeg)
    assert np.array_equal(film_read.view, cache_image(str(jpeg), predictor.preprocess_config))
    assert np.array_equal(predictor.read(jpeg.read_bytes(), name="film.jpg").view, film_read.view)
    assert (film_read.width, film_read.height) == (480, 480)
