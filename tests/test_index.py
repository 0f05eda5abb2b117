"""cxrlab index: one test per layout, bad files, and the written files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from cxrlab.data.index.fingerprint import fingerprint
from cxrlab.data.index.indexer import index_datasets, write_index
from cxrlab.data.index.layouts.common import (
    CLASS_FOLDER_NAMES, LATERAL, MASK, NOT_XRAY, UNKNOWN_LABEL, UNLISTED, folder_label,
)
from cxrlab.data.manifest import CORE_COLUMNS, read_manifest
from cxrlab.io.images import HEADER_FIELDS
from cxrlab.errors import ConfigError
from cxrlab.io.images import read_image, to_uint8
from cxrlab.labels import canonical_label
from helpers_index import (
    make_dicoms, make_ieee8023, make_kermany, make_manifest_source, make_radiography_db, save_image,
)


def _index(*roots: Path, **kwargs):
    kwargs.setdefault("workers", 1)
    return index_datasets(list(roots), progress=False, **kwargs)


def _by_name(result) -> dict:
    return {Path(p).name: row for p, row in zip(result.manifest["path"], result.manifest.to_dict("records"))}


def _reasons(result) -> dict[str, str]:
    return {Path(p).name: reason for p, reason in result.excluded}


def test_manifest_csv_sources_under_one_root(tmp_path):
    make_manifest_source(tmp_path / "data" / "src-a")
    make_manifest_source(tmp_path / "data" / "src-b")
    (tmp_path / "data" / "README.md").write_text("several sources\n")
    result = _index(tmp_path / "data")
    df = result.manifest
    assert list(df.columns) == list(CORE_COLUMNS) + [f for f in HEADER_FIELDS if f not in CORE_COLUMNS]
    assert sorted(set(df["source"])) == ["src-a", "src-b"]
    rows = _by_name(result)
    a, b = rows["a.jpg"], rows["b.jpg"]
    assert (a["label"], a["original_label"], a["patient_id"], a["view"]) == ("COVID", "COVID-19", "src-b:P1", "PA")
    assert (b["label"], b["original_label"], b["patient_id"]) == ("Normal", "No Finding", "ieee8023:7")
    reasons = _reasons(result)
    assert reasons["lat.jpg"] == LATERAL and reasons["c.jpg"] == UNKNOWN_LABEL and reasons["unlisted.jpg"] == UNLISTED
    assert result.unknown_labels == {"todo": 2}
    assert [Path(p).name for p, _ in result.skipped] == ["missing.jpg", "missing.jpg"]
    assert "does not exist" in result.skipped[0][1]
    assert len(df) == 4 and Path(df["path"][0]).is_absolute()


def test_hashes_and_sizes_are_of_the_file_and_its_full_decode(tmp_path):
    make_manifest_source(tmp_path / "src")
    row = _by_name(_index(tmp_path / "src"))["a.jpg"]
    path = Path(row["path"])
    gray = to_uint8(read_image(path))
    assert row["sha1"] == hashlib.sha1(path.read_bytes()).hexdigest()
    fp = fingerprint(gray)
    for key in ("pixel_sha1", "phash", "mean", "std"):
        assert row[key] == fp[key], key
    assert (row["width"], row["height"], row["bits"], row["format"]) == (24, 24, 8, "JPEG")


def test_ieee8023_metadata_csv(tmp_path):
    root = make_ieee8023(tmp_path / "covid-chestxray-dataset")
    result = _index(root)
    rows = _by_name(result)
    assert set(rows) == {"covid-1.jpg", "strep.png", "normal.jpg"}
    assert rows["covid-1.jpg"]["label"] == "COVID"
    assert rows["covid-1.jpg"]["original_label"] == "Pneumonia/Viral/COVID-19"
    assert rows["strep.png"]["label"] == "Pneumonia-Bacterial" and rows["strep.png"]["view"] == "AP Supine"
    assert rows["strep.png"]["patient_id"] == "ieee8023:2"
    assert set(result.manifest["source"]) == {"covid-chestxray-dataset"}
    reasons = _reasons(result)
    assert reasons == {"strep-lat.png": LATERAL, "ct.nii.gz": NOT_XRAY, "todo.jpg": UNKNOWN_LABEL}
    assert result.skipped == []
    kept = _index(root, frontal_only=False)
    assert "strep-lat.png" in _by_name(kept) and "ct.nii.gz" not in _by_name(kept)


def test_kermany_split_cause_and_patient(tmp_path):
    make_kermany(tmp_path)
    rows = _by_name(_index(tmp_path))
    virus, bacteria = rows["person1_virus_6.jpeg"], rows["person3_bacteria_10.jpeg"]
    assert (virus["label"], virus["original_label"], virus["patient_id"], virus["split"]) == (
        "Pneumonia-Viral", "PNEUMONIA/virus", "kermany:person1", "train")
    assert (bacteria["label"], bacteria["patient_id"]) == ("Pneumonia-Bacterial", "kermany:person3")
    assert rows["person1_virus_7.jpeg"]["patient_id"] == "kermany:person1"
    normal = rows["IM-0115-0001.jpeg"]
    assert (normal["label"], normal["patient_id"], normal["split"]) == ("Normal", "kermany:IM-0115", "train")
    assert rows["NORMAL2-IM-1427-0001.jpeg"]["split"] == "val"
    assert rows["person100_bacteria_475.jpeg"]["split"] == "test"
    assert {r["source"] for r in rows.values()} == {"chest_xray"}


def test_radiography_db_class_folders_and_masks(tmp_path):
    make_radiography_db(tmp_path / "data" / "COVID-19_Radiography_Dataset")
    result = _index(tmp_path / "data")
    counts = result.manifest.groupby("label").size().to_dict()
    assert counts == {"COVID": 2, "Lung_Opacity": 2, "Normal": 2, "Pneumonia-Viral": 2}
    assert not result.manifest["path"].str.contains("masks").any()
    assert result.excluded_counts == {MASK: 8}
    assert set(result.manifest["source"]) == {"COVID-19_Radiography_Dataset"}
    assert result.skipped == []  # README/metadata tables are not images and are ignored silently


def test_dicom_fields_views_and_modality(tmp_path):
    root = make_dicoms(tmp_path / "dicoms")
    result = _index(root, workers=2)
    rows = _by_name(result)
    assert set(rows) == {"pa.dcm", "IMG0001"}
    pa, noext = rows["pa.dcm"], rows["IMG0001"]
    assert (pa["label"], pa["patient_id"], pa["view"]) == ("COVID", "dicoms:P9", "PA")
    assert (pa["bits"], pa["format"], pa["width"]) == (12, "DICOM", 24)
    assert (noext["label"], noext["patient_id"], noext["view"]) == ("Normal", "dicoms:P10", "AP")
    assert _reasons(result) == {"lat.dcm": LATERAL, "ct.dcm": "not a chest radiograph: Modality CT"}
    header = {k: pa[k] for k in ("modality", "body_part", "photometric", "transfer_syntax")}
    assert header == {"modality": "DX", "body_part": "CHEST", "photometric": "MONOCHROME2",
                      "transfer_syntax": "ExplicitVRLittleEndian"}
    assert noext["photometric"] == "MONOCHROME1"
    assert "lat.dcm" in _by_name(_index(root, frontal_only=False))


def test_bad_files_are_reported_and_do_not_stop_the_run(tmp_path):
    folder = tmp_path / "bad" / "COVID"
    save_image(folder / "good.png", seed=1)
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.jpg").write_text("not an image at all")
    (folder / "truncated.jpg").write_bytes(save_image(tmp_path / "t.jpg", seed=2, size=64).read_bytes()[:200])
    (folder / "blob.bin").write_bytes(b"\x00\x01" * 50)
    (folder / "notes.txt").write_text("ignored")
    (tmp_path / "bad" / "stray.png").write_bytes(b"")  # not in a class folder
    result = _index(tmp_path / "bad", workers=2)
    assert list(_by_name(result)) == ["good.png"]
    skipped = {Path(p).name: reason for p, reason in result.skipped}
    assert set(skipped) == {"empty.png", "text.jpg", "truncated.jpg", "blob.bin"}
    assert "empty" in skipped["empty.png"] and "not a recognised image" in skipped["text.jpg"]
    assert _reasons(result) == {"stray.png": UNKNOWN_LABEL}
    assert result.unknown_labels == {"(no class folder)": 1}


def test_unknown_class_folder_is_counted_by_name(tmp_path):
    save_image(tmp_path / "ds" / "Normal" / "n.png", seed=1)
    save_image(tmp_path / "ds" / "Emphysema" / "e.png", seed=2)
    result = _index(tmp_path / "ds")
    assert result.manifest["label"].tolist() == ["Normal"]
    assert result.unknown_labels == {"Emphysema": 1}


def test_negated_covid_labels_are_unknown_not_covid(tmp_path):
    save_image(tmp_path / "ds" / "Non-COVID" / "x.png", seed=1)
    save_image(tmp_path / "ds" / "COVID" / "y.png", seed=2)
    result = _index(tmp_path / "ds")
    assert result.manifest["label"].tolist() == ["COVID"] and result.unknown_labels == {"Non-COVID": 1}
    assert canonical_label("Non-COVID") is None and canonical_label("COVID negative") is None
    assert canonical_label("covid19 folder") == "COVID"


def test_folder_labels_are_strict():
    assert folder_label("Viral Pneumonia") == "Pneumonia-Viral"
    assert folder_label("Lung_Opacity") == "Lung_Opacity"
    assert folder_label("NORMAL") == "Normal" and folder_label("COVID-19") == "COVID"
    assert folder_label("virus") == "Pneumonia-Viral" and folder_label("Bacteria") == "Pneumonia-Bacterial"
    assert all(folder_label(name) for name in CLASS_FOLDER_NAMES)
    assert folder_label("Pneumonia_Viral") == "Pneumonia-Viral" and folder_label("SARS-CoV-2") == "COVID"
    assert folder_label("covid-cxnet") is None and folder_label("covid19-radiography-db") is None


def test_overlapping_roots_index_each_file_once(tmp_path):
    make_kermany(tmp_path / "k")
    result = _index(tmp_path / "k", tmp_path / "k" / "chest_xray", tmp_path / "k")
    assert len(result.manifest) == 6 and result.manifest["path"].is_unique


def test_missing_root_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        _index(tmp_path / "nope")


def test_written_manifest_round_trips(tmp_path):
    make_manifest_source(tmp_path / "src")
    result = _index(tmp_path / "src")
    files = write_index(result, tmp_path / "out" / "manifest.csv")
    text = files.manifest.read_text()
    assert "../src/COVID/a.jpg" in text and str(tmp_path) not in text
    back = read_manifest(files.manifest)
    assert back["path"].tolist() == result.manifest["path"].tolist()
    assert back["sha1"].tolist() == result.manifest["sha1"].tolist()
    assert files.skipped.read_text().splitlines()[0] == "path,reason"
    assert "missing.jpg" in files.skipped.read_text() and "lateral view" in files.excluded.read_text()
