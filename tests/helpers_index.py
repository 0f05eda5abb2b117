"""Builders of tiny dataset folders in every layout ``cxrlab index`` recognises (generated images)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from cxrlab.data.synthetic.generate import save_dicom


def film(seed: int, size: int = 24) -> np.ndarray:
    """A small distinct grayscale picture (different seed -> different pixels)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    base = (xx * rng.uniform(2, 8) + yy * rng.uniform(2, 8)) % 256
    return np.clip(base + rng.integers(0, 40, (size, size)), 0, 255).astype(np.uint8)


def save_image(path: Path, seed: int, size: int = 24) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(film(seed, size))
    img.save(path, quality=90) if path.suffix.lower() in (".jpg", ".jpeg") else img.save(path)
    return path


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def make_manifest_source(folder: Path) -> Path:
    """A cxr-data style source: ``<CLASS>/<image>.jpg`` + manifest.csv + SOURCE.txt."""
    for i, rel in enumerate(["COVID/a.jpg", "Normal/b.jpg", "Normal/lat.jpg", "Other/c.jpg", "COVID/unlisted.jpg"]):
        save_image(folder / rel, seed=100 + i)
    write_csv(folder / "manifest.csv", ["file", "class", "original_label", "patient_id", "view", "width", "height"], [
        ["COVID/a.jpg", "COVID", "COVID-19", "P1", "PA", "24", "24"],
        ["Normal/b.jpg", "Normal", "No Finding", "ieee8023:7", "AP Supine", "24", "24"],
        ["Normal/lat.jpg", "Normal", "No Finding", "P2", "L", "24", "24"],
        ["Other/c.jpg", "todo", "todo", "", "", "24", "24"],
        ["COVID/missing.jpg", "COVID", "COVID-19", "", "", "24", "24"],
    ])
    (folder / "SOURCE.txt").write_text("a generated source\n", encoding="utf-8")
    return folder


IEEE_HEADER = ["patientid", "offset", "sex", "age", "finding", "view", "modality", "folder", "filename",
               "clinical_notes"]


def make_ieee8023(folder: Path) -> Path:
    """An ieee8023 covid-chestxray-dataset clone: metadata.csv + images/ (+ a CT in volumes/)."""
    rows = [
        ("1", "Pneumonia/Viral/COVID-19", "PA", "X-ray", "images", "covid-1.jpg"),
        ("2", "Pneumonia/Bacterial/Streptococcus", "AP Supine", "X-ray", "images", "strep.png"),
        ("2", "Pneumonia/Bacterial/Streptococcus", "L", "X-ray", "images", "strep-lat.png"),
        ("3", "Pneumonia/Viral/COVID-19", "Axial", "CT", "volumes", "ct.nii.gz"),
        ("4", "todo", "PA", "X-ray", "images", "todo.jpg"),
        ("5", "No Finding", "AP", "X-ray", "images", "normal.jpg"),
    ]
    for i, (_, _, _, modality, sub, name) in enumerate(rows):
        if modality == "X-ray":
            save_image(folder / sub / name, seed=200 + i)
    write_csv(folder / "metadata.csv", IEEE_HEADER,
              [[pid, "0", "M", "50", finding, view, modality, sub, name, ""]
               for pid, finding, view, modality, sub, name in rows])
    return folder


def make_kermany(root: Path) -> Path:
    """``chest_xray/{train,val,test}/{NORMAL,PNEUMONIA}/`` with Kermany file names."""
    files = [
        "train/PNEUMONIA/person1_virus_6.jpeg", "train/PNEUMONIA/person1_virus_7.jpeg",
        "train/PNEUMONIA/person3_bacteria_10.jpeg", "train/NORMAL/IM-0115-0001.jpeg",
        "val/NORMAL/NORMAL2-IM-1427-0001.jpeg", "test/PNEUMONIA/person100_bacteria_475.jpeg",
    ]
    for i, rel in enumerate(files):
        save_image(root / "chest_xray" / rel, seed=300 + i)
    return root / "chest_xray"


def make_radiography_db(folder: Path) -> Path:
    """COVID-19 Radiography Database: ``<Class>/images/*.png`` beside ``<Class>/masks/*.png``."""
    classes = ["COVID", "Normal", "Viral Pneumonia", "Lung_Opacity"]
    for c, name in enumerate(classes):
        for i in range(2):
            save_image(folder / name / "images" / f"{name}-{i + 1}.png", seed=400 + 10 * c + i)
            save_image(folder / name / "masks" / f"{name}-{i + 1}.png", seed=900 + 10 * c + i)
        write_csv(folder / f"{name}.metadata.csv", ["FILE NAME", "FORMAT", "SIZE", "URL"],
                  [[f"{name}-1", "PNG", "24*24", "x"]])
    (folder / "README.md.txt").write_text("COVID-19 Radiography Database\n", encoding="utf-8")
    return folder


def make_dicoms(folder: Path) -> Path:
    """Class folders of DICOM files: PA, lateral, CT and one without a file extension."""
    import pydicom

    film16 = film(500).astype(np.uint16) * 16
    save_dicom(folder / "COVID" / "pa.dcm", film16, patient_id="P9", view="PA", bits_stored=12)
    save_dicom(folder / "COVID" / "lat.dcm", film16 // 2, patient_id="P9", view="LL", bits_stored=12)
    save_dicom(folder / "Normal" / "noext.dcm", film(501).astype(np.uint16) * 16, photometric="MONOCHROME1",
               patient_id="P10", view="AP", bits_stored=12).rename(folder / "Normal" / "IMG0001")
    ct = save_dicom(folder / "Normal" / "ct.dcm", film(502).astype(np.uint16), patient_id="P11", view="")
    ds = pydicom.dcmread(ct)
    ds.Modality = "CT"
    ds.save_as(ct)
    return folder
