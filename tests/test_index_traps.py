"""cxrlab index on folders built to trap it: symbolic links that relabel or loop, dangling links,
degenerate films, a manifest.csv without a label column, table paths that climb out."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cxrlab.cli import build_app
from cxrlab.data.index.film_checks import BLANK, SLIVER, TOO_SMALL
from cxrlab.data.index.indexer import index_datasets
from cxrlab.data.index.layouts.common import UNLISTED
from helpers_index import save_image, write_csv


def _index(*roots: Path):
    return index_datasets(list(roots), workers=1, progress=False)


def _labels(result) -> dict[str, int]:
    return result.manifest["label"].value_counts().to_dict()


def _two_classes(root: Path, n: int = 5) -> Path:
    for i in range(n):
        save_image(root / "COVID" / f"c{i}.png", seed=i)
        save_image(root / "Normal" / f"n{i}.png", seed=100 + i)
    return root


def test_a_link_to_another_class_folder_does_not_relabel_it(tmp_path):
    root = _two_classes(tmp_path / "r")
    os.symlink("../Normal", root / "COVID" / "link")
    result = _index(root)
    assert _labels(result) == {"COVID": 5, "Normal": 5}
    rows = dict(zip(result.manifest["path"], result.manifest["label"]))
    assert all(label == "Normal" for path, label in rows.items() if "/Normal/" in path)
    assert not any("/link/" in p for p in rows)
    skipped = dict(result.skipped)
    assert "inside the dataset" in skipped[str(root / "COVID" / "link")]


def test_a_self_link_or_dangling_link_is_skipped_and_the_folder_still_indexed(tmp_path):
    root = _two_classes(tmp_path / "r")
    os.symlink("self", root / "Normal" / "self")
    os.symlink("nowhere.png", root / "Normal" / "gone.png")
    os.symlink("..", root / "COVID" / "up")  # a loop through the parent
    result = _index(root)
    assert _labels(result) == {"COVID": 5, "Normal": 5}
    skipped = dict(result.skipped)
    assert "loop" in skipped[str(root / "Normal" / "self")]
    assert "dangling" in skipped[str(root / "Normal" / "gone.png")]
    assert str(root / "COVID" / "up") in skipped


def test_a_file_link_is_indexed_once_where_the_film_really_is(tmp_path):
    root = _two_classes(tmp_path / "r", n=2)
    os.symlink("../Normal/n0.png", root / "COVID" / "alias.png")
    outside = save_image(tmp_path / "elsewhere" / "ext.png", seed=50)
    os.symlink(outside, root / "COVID" / "ext.png")
    os.symlink(outside, root / "COVID" / "ext-again.png")
    result = _index(root)
    names = {Path(p).name: label for p, label in zip(result.manifest["path"], result.manifest["label"])}
    assert names["n0.png"] == "Normal" and "alias.png" not in names
    assert names["ext-again.png"] == "COVID" and "ext.png" not in names  # one film, one row
    assert len(result.manifest) == 5


def test_a_link_out_to_a_folder_of_films_is_followed(tmp_path):
    save_image(tmp_path / "disk" / "covid" / "a.png", seed=1)
    (tmp_path / "r").mkdir()
    save_image(tmp_path / "r" / "Normal" / "b.png", seed=2)
    os.symlink(tmp_path / "disk" / "covid", tmp_path / "r" / "COVID")
    assert _labels(_index(tmp_path / "r")) == {"COVID": 1, "Normal": 1}


def _save(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def test_degenerate_films_are_excluded_with_a_reason(tmp_path):
    root = _two_classes(tmp_path / "r", n=1)
    _save(root / "COVID" / "dot.png", np.full((1, 1), 128, np.uint8))
    _save(root / "COVID" / "sliver.png", np.random.default_rng(0).integers(0, 255, (1, 20000), dtype=np.uint8))
    _save(root / "Normal" / "blank.png", np.full((300, 300), 7, np.uint8))
    _save(root / "Normal" / "blank16.png", np.full((64, 64), 4000, np.uint16))
    result = _index(root)
    reasons = {Path(p).name: r for p, r in result.excluded}
    assert reasons == {"dot.png": TOO_SMALL, "sliver.png": TOO_SMALL, "blank.png": BLANK, "blank16.png": BLANK}
    assert len(result.manifest) == 2
    _save(root / "COVID" / "thin.png", np.random.default_rng(1).integers(0, 255, (40, 400), dtype=np.uint8))
    assert {Path(p).name: r for p, r in _index(root).excluded}["thin.png"] == SLIVER


def test_manifest_without_a_class_column_is_reported_not_silently_ignored(tmp_path):
    root = _two_classes(tmp_path / "r", n=1)
    write_csv(root / "manifest.csv", ["file", "view"], [["COVID/c0.png", "PA"]])
    result = _index(root)
    reason = dict(result.skipped)[str(root / "manifest.csv")]
    assert "lacks a label column (class or label)" in reason and "columns found: file, view" in reason
    assert _labels(result) == {"COVID": 1, "Normal": 1}  # the folders still give the labels


def test_table_paths_that_climb_out_of_the_dataset_are_refused(tmp_path):
    secret = save_image(tmp_path / "secret" / "passwd.png", seed=9)
    src = tmp_path / "data" / "src"
    save_image(src / "COVID" / "a.png", seed=1)
    write_csv(src / "manifest.csv", ["file", "class"], [
        ["COVID/a.png", "COVID"], ["../../secret/passwd.png", "COVID"], [str(secret), "Normal"],
        ["COVID/../COVID/a.png", "COVID"]])
    result = _index(tmp_path / "data")
    assert list(result.manifest["path"]) == [str(src / "COVID" / "a.png")]
    refused = [p for p, r in result.skipped if "outside the dataset folder" in r]
    assert refused == [str(secret), str(secret)]
    assert not any(r == UNLISTED for _, r in result.excluded)


def test_cli_lists_skipped_links_with_their_reasons(tmp_path):
    root = _two_classes(tmp_path / "r", n=2)
    os.symlink("self", root / "Normal" / "self")
    out = tmp_path / "m.csv"
    result = CliRunner().invoke(build_app(), ["index", str(root), "--out", str(out), "--no-progress", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "Skipped 1" in result.output and "symbolic link loop" in result.output


@pytest.mark.parametrize("target", ["..", "."])
def test_links_to_the_dataset_itself_never_recurse(tmp_path, target):
    root = _two_classes(tmp_path / "r", n=1)
    os.symlink(target, root / "Normal" / "again")
    result = _index(root)
    assert _labels(result) == {"COVID": 1, "Normal": 1}
    assert "again" in " ".join(p for p, _ in result.skipped)


def test_unwritable_out_is_a_plain_error_not_a_traceback(tmp_path, capsys):
    from cxrlab.cli import main

    root = _two_classes(tmp_path / "r", n=1)
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit) as info:
        main(["index", str(root), "--out", str(tmp_path / "file" / "m.csv"), "--no-progress"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "cannot write there" in err and "Traceback" not in err
