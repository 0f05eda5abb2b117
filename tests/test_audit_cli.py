"""`cxrlab audit` and `cxrlab split` through the Typer app."""

from __future__ import annotations

import json

import pytest
from helpers_audit import planted_dataset
from typer.testing import CliRunner

from cxrlab.cli import build_app
from cxrlab.data.manifest import read_manifest, write_manifest


@pytest.fixture
def manifest(tmp_path):
    df, planted = planted_dataset(tmp_path / "data", distinct=15)
    path = tmp_path / "work" / "manifest.csv"
    write_manifest(df, path)
    return path, planted


def test_audit_then_split(manifest, tmp_path):
    path, planted = manifest
    runner = CliRunner()
    out = tmp_path / "work" / "audit"
    res = runner.invoke(build_app(), ["audit", "--manifest", str(path), "--out", str(out), "--workers", "1",
                                      "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "Leakage audit" in res.output and "near-duplicate groups" in res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["exact_groups"] == 1 and summary["near_groups"] == 5
    assert (out / "pairs.csv").exists() and (out / "groups.csv").exists() and (out / "near_pairs.png").exists()
    df = read_manifest(path)
    copies = df[df["dup_group"] != ""]
    assert len(copies) == 12

    res = runner.invoke(build_app(), ["split", "--manifest", str(path), "--scheme", "3class", "--val", "0.2",
                                      "--test", "0.2", "--seed", "1"])
    assert res.exit_code == 0, res.output
    assert "Images per split and class" in res.output and "warning" not in res.output
    df = read_manifest(path)
    assert set(df["split"]) <= {"train", "val", "test"}
    for _, rows in df[df["dup_group"] != ""].groupby("dup_group"):
        assert rows["split"].nunique() == 1


def test_split_warns_without_audit_and_holds_out_sources(manifest):
    path, _ = manifest
    res = CliRunner().invoke(build_app(), ["split", "--manifest", str(path), "--holdout-source", "b"])
    assert res.exit_code == 0, res.output
    assert "run 'cxrlab audit' first" in res.output
    df = read_manifest(path)
    assert (df.loc[df["source"] == "b", "split"] == "external").all()


def test_split_rejects_unknown_scheme_and_fractions(manifest):
    path, _ = manifest
    from cxrlab.errors import CxrlabError

    res = CliRunner().invoke(build_app(), ["split", "--manifest", str(path), "--scheme", "nine-class"])
    assert isinstance(res.exception, CxrlabError) and "nine-class" in str(res.exception)
    res = CliRunner().invoke(build_app(), ["split", "--manifest", str(path), "--val", "0.5", "--test", "0.5"])
    assert isinstance(res.exception, CxrlabError)
