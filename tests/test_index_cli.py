"""``cxrlab index`` through the Typer app."""

from __future__ import annotations

from typer.testing import CliRunner

from cxrlab.cli import build_app
from cxrlab.data.manifest import read_manifest
from cxrlab.errors import CxrlabError
from helpers_index import make_ieee8023, make_kermany, make_manifest_source


def test_index_command_writes_manifest_and_prints_summary(tmp_path):
    make_manifest_source(tmp_path / "data" / "src-a")
    make_kermany(tmp_path / "data" / "kermany")
    out = tmp_path / "work" / "manifest.csv"
    result = CliRunner().invoke(build_app(), ["index", str(tmp_path / "data"), "--out", str(out), "--workers", "1",
                                              "--no-progress"])
    assert result.exit_code == 0, result.output
    df = read_manifest(out)
    assert sorted(set(df["source"])) == ["kermany", "src-a"]
    assert len(df) == 6 + 2
    text = result.output
    assert "Images per source and label" in text and "Pneumonia-Bacterial" in text and "kermany" in text
    assert "lateral view" in text and "not listed in the dataset table" in text
    assert "Skipped 1 unreadable/non-image file(s)" in text and "index_skipped.csv" in text
    assert str(out) in text.replace("\n", "")
    assert (tmp_path / "work" / "index_skipped.csv").exists() and (tmp_path / "work" / "index_excluded.csv").exists()


def test_keep_lateral_and_out_folder(tmp_path):
    """--out without a .csv suffix is a folder (created) that gets manifest.csv."""
    root = make_ieee8023(tmp_path / "ieee")
    args = ["index", str(root), "--out", str(tmp_path / "out"), "--no-progress", "--workers", "2"]
    frontal = CliRunner().invoke(build_app(), args)
    assert frontal.exit_code == 0, frontal.output
    assert len(read_manifest(tmp_path / "out" / "manifest.csv")) == 3
    lateral = CliRunner().invoke(build_app(), [*args, "--keep-lateral"])
    assert lateral.exit_code == 0, lateral.output
    assert "L" in set(read_manifest(tmp_path / "out" / "manifest.csv")["view"])


def test_no_images_is_an_error_after_the_summary(tmp_path):
    (tmp_path / "empty" / "Emphysema").mkdir(parents=True)
    (tmp_path / "empty" / "Emphysema" / "x.png").write_bytes(b"")
    result = CliRunner().invoke(build_app(), ["index", str(tmp_path / "empty"), "--out", str(tmp_path / "m.csv"),
                                              "--no-progress"])
    assert result.exit_code != 0
    assert isinstance(result.exception, CxrlabError) and "no labelled X-ray images" in str(result.exception)
    assert "unknown label" in result.output
