"""EDA report: one self-contained HTML file with the promised sections, robust to missing columns."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import make_film
from cxrlab.data.eda.report import make_eda_report
from cxrlab.data.index.fingerprint import fingerprint
from cxrlab.errors import ConfigError

THUMB = re.compile(r'<figure title="([^"]*)"><img alt="[^"]*" src="(data:image/png;base64,[^"]+)"')


def _manifest(root: Path, per_class: int = 3) -> pd.DataFrame:
    """Two sources x two classes of tiny films; source 'bright' is visibly brighter (a shortcut)."""
    rows = []
    for source, offset in (("dark", 0), ("bright", 60)):
        for label in ("COVID", "Normal"):
            for i in range(per_class):
                gray = np.clip(make_film(label, seed=len(rows), size=40).astype(int) + offset, 0, 255).astype(np.uint8)
                path = root / source / label / f"{label}-{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(gray).save(path)
                rows.append({"path": str(path), "label": label, "source": source, "patient_id": f"{source}{i}",
                             "width": 40, "height": 40 + i, "bits": 8, "format": "PNG",
                             "split": ["train", "val", "test"][i % 3], **fingerprint(gray)})
    return pd.DataFrame(rows)


@pytest.fixture
def manifest(tmp_path) -> pd.DataFrame:
    return _manifest(tmp_path / "data")


def test_report_is_self_contained_with_all_sections(tmp_path, manifest):
    audit = tmp_path / "audit"
    audit.mkdir()
    (audit / "summary.json").write_text(json.dumps({
        "exact_duplicate_groups": 7, "near_duplicate_groups": 1234, "label_conflicts": 2,
        "cross_source_pairs": [{"a": "x.png", "b": "y.png"}], "sources_with_copies": ["dark", "bright"],
    }), encoding="utf-8")
    (audit / "pairs.csv").write_text("a,b\n", encoding="utf-8")
    Image.fromarray(make_film("COVID", seed=1, size=40)).save(audit / "near_pairs.png")
    manifest["dup_group"] = ""
    manifest.loc[[0, 6], "dup_group"] = "g1"  # one copy in each source
    manifest.loc[[1, 2], "dup_group"] = "g2"  # same source, val and test
    before = dict(matplotlib.rcParams)
    out = make_eda_report(manifest, tmp_path / "rep" / "eda.html", audit_dir=audit, samples_per_class=2, seed=1)
    assert dict(matplotlib.rcParams) == before  # no global style changes
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert not re.search(r'(src|href)="(https?:)?//', text) and "<script" not in text and "<link" not in text
    for anchor in ("overview", "classes", "sizes", "intensity", "samples", "audit"):
        assert f'id="{anchor}"' in text
    # class counts per source and split, with totals
    assert '<td>dark</td><td class="num">3</td><td class="num">3</td><td class="num">6</td>' in text
    assert '<td>train</td><td class="num">2</td><td class="num">2</td><td class="num">4</td>' in text
    # figures are embedded PNGs that decode
    figures = dict(re.findall(r'<img class="fig" alt="([^"]+)" src="data:image/png;base64,([^"]+)"', text))
    assert {"class counts per source", "class counts per split", "image size by source",
            "mean vs std per class", "brightness and contrast histograms", "near_pairs"} <= set(figures)
    for name, data in figures.items():
        assert Image.open(io.BytesIO(base64.b64decode(data))).size[0] > (30 if name == "near_pairs" else 300)
    # 2 samples per class (2 classes) + 2 per source (2 sources)
    assert len(THUMB.findall(text)) == 8
    # duplicate groups from the manifest: 2 groups, one across sources, one across splits
    assert re.search(r"<b>2</b><span>duplicate groups</span>.*<b>1</b><span>groups across sources</span>", text)
    assert "<b>1</b><span>groups across splits</span>" in text
    # audit summary values and its nested parts are shown
    assert "near duplicate groups" in text and "1,234" in text and "y.png" in text and "pairs.csv" in text


def test_samples_are_seeded_and_come_from_the_right_group(tmp_path, manifest):
    def thumbs(seed: int) -> list[tuple[str, str]]:
        out = make_eda_report(manifest, tmp_path / f"r{seed}.html", samples_per_class=2, seed=seed)
        return THUMB.findall(out.read_text(encoding="utf-8"))

    first, again, other = thumbs(0), thumbs(0), thumbs(5)
    assert first == again and first != other
    class_section = first[:4]  # by class: COVID x2, then Normal x2
    assert [t.split(" | ")[1] for t, _ in class_section] == ["COVID", "COVID", "Normal", "Normal"]


def test_minimal_manifest_and_broken_files_still_give_a_report(tmp_path, manifest):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    df = manifest[["path", "label", "source"]].copy()
    df.loc[0, "path"] = str(bad)
    text = make_eda_report(df, tmp_path / "min.html", samples_per_class=3).read_text(encoding="utf-8")
    assert "Not in this manifest" in text and "mean, std" in text
    assert "No audit found" in text and "cxrlab split" in text
    titles = [t for t, _ in THUMB.findall(text)]
    assert len(titles) == 12 and not any("broken.png" in t for t in titles)


def test_unusable_input_is_a_clear_error(tmp_path, manifest):
    with pytest.raises(ConfigError, match="label"):
        make_eda_report(manifest.drop(columns=["label"]), tmp_path / "x.html")
    with pytest.raises(ConfigError, match="no rows"):
        make_eda_report(manifest.iloc[:0], tmp_path / "x.html")
