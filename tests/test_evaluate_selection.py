"""Which rows an evaluation uses; the guard against scoring training images."""

from __future__ import annotations

import pandas as pd
import pytest

from cxrlab.errors import ConfigError
from cxrlab.evaluate.analysis import compare_sets
from cxrlab.evaluate.gallery import confident_mistakes
from cxrlab.evaluate.selection import select_rows
from cxrlab.labels import builtin_schemes

SCHEME = builtin_schemes()["3class"]


def manifest() -> pd.DataFrame:
    rows = []
    for i, (source, label, split) in enumerate([
        ("a", "COVID", "train"), ("a", "Normal", "val"), ("a", "COVID", "test"), ("a", "Normal", "test"),
        ("b", "Pneumonia-Viral", "train"), ("b", "Normal", "test"), ("b", "Unlisted", "test"),
        ("c", "COVID", "external"), ("c", "Normal", "external"),
    ]):
        rows.append({"path": f"/d/{i}.png", "label": label, "source": source, "split": split,
                     "sha1": f"h{i}", "patient_id": f"p{i}"})
    return pd.DataFrame(rows)


def test_default_is_the_test_split_with_unmapped_labels_counted():
    df = manifest()
    es = select_rows(df, SCHEME, run_df=df)
    assert es.name == "test" and len(es.df) == 3  # a label the 3-class scheme does not map
    assert es.excluded == {"label Unlisted not in scheme 3class": 1}
    assert es.df["class"].tolist() == ["COVID", "Normal", "Normal"]
    assert es.targets.tolist() == [0, 1, 1]
    assert not es.external


def test_source_selection_leaves_out_rows_used_for_fitting():
    df = manifest()
    es = select_rows(df, SCHEME, source="a", run_df=df)
    assert es.df["path"].tolist() == ["/d/2.png", "/d/3.png"]
    assert "2 images of a were used for training/validation" in es.notes[0]
    with pytest.raises(ConfigError, match="source 'zz' is not in the manifest"):
        select_rows(df, SCHEME, source="zz", run_df=df)


def test_held_out_source_is_external():
    df = manifest()
    es = select_rows(df, SCHEME, split="external", run_df=df)
    assert es.external and len(es.df) == 2
    es = select_rows(df, SCHEME, source="c", run_df=df)
    assert es.external


def test_new_manifest_without_split_is_used_whole_but_training_copies_are_dropped():
    run_df = manifest()
    new = pd.DataFrame({"path": ["/other/x.png", "/other/y.png", "/other/z.png"], "label": ["COVID", "Normal", "COVID"],
                        "source": ["d", "d", "d"], "sha1": ["h0", "n1", "n2"]})  # x.png is a copy of training row 0
    es = select_rows(new, SCHEME, run_df=run_df)
    assert es.excluded == {"seen in training/validation": 1}
    assert es.df["path"].tolist() == ["/other/y.png", "/other/z.png"]
    assert any("no test split" in n for n in es.notes)
    assert es.external  # source d never used for training


def test_training_split_cannot_be_evaluated():
    df = manifest()
    with pytest.raises(ConfigError, match="no images left to evaluate"):
        select_rows(df, SCHEME, split="train", run_df=df)
    with pytest.raises(ConfigError, match="no images in split 'nope'"):
        select_rows(df, SCHEME, split="nope", run_df=df)


def test_without_run_manifest_overlap_cannot_be_checked():
    es = select_rows(manifest(), SCHEME)
    assert any("cannot be checked" in n for n in es.notes)


def test_compare_sets_calls_a_drop_and_not_a_wobble():
    def cell(v, lo, hi):
        return {"value": v, "low": lo, "high": hi}

    internal = {"intervals": {k: cell(0.95, 0.93, 0.97) for k in ("accuracy", "balanced_accuracy", "macro_f1", "auc")}}
    external = {"intervals": {k: cell(0.70, 0.64, 0.76) for k in ("accuracy", "balanced_accuracy", "macro_f1", "auc")}}
    comp = compare_sets(internal, external)
    assert comp["dropped"] and "DROPS" in comp["verdict"] and "not chance" in comp["verdict"]
    assert comp["metrics"]["auc"]["difference"] == pytest.approx(-0.25)
    same = compare_sets(internal, internal)
    assert not same["dropped"] and "No drop" in same["verdict"]


def test_confident_mistakes_order():
    import numpy as np

    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.05, 0.95], [0.3, 0.7]])
    targets = np.array([0, 0, 1, 1, 0])
    assert confident_mistakes(probs, targets).tolist() == [1, 4, 2]
    assert confident_mistakes(probs, targets, limit=1).tolist() == [1]
