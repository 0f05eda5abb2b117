"""Leakage-free splits: whole groups per split, deterministic, stratified, hold-out sources."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxrlab.data.splits import leakage_groups, make_splits, split_table
from cxrlab.errors import ConfigError
from cxrlab.labels import load_scheme


def _manifest(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Rows with patients (1-4 films each), some duplicate groups across patients, 3 sources."""
    rng = np.random.default_rng(seed)
    rows, patient = [], 0
    while len(rows) < n:
        label = rng.choice(["COVID", "Normal", "Normal", "Pneumonia-Viral", "Pneumonia-Bacterial"])
        source = rng.choice(["s1", "s2", "s3"])
        pid = f"p{patient}" if rng.random() < 0.7 else ""
        for _ in range(int(rng.integers(1, 5)) if pid else 1):
            rows.append({"path": f"/d/{len(rows)}.png", "label": label, "source": source, "patient_id": pid,
                         "dup_group": "", "split": ""})
        patient += 1
    df = pd.DataFrame(rows[:n])
    for k in range(40):  # copies of one film under two different patients/sources
        i, j = rng.choice(n, 2, replace=False)
        df.loc[[i, j], "dup_group"] = f"dup-{k:05d}"
    return df


def test_no_group_straddles_splits_and_links_are_transitive():
    out = make_splits(_manifest(), scheme=load_scheme("3class"), seed=1)
    assert set(out["split"]) <= {"train", "val", "test"}
    assert (out.groupby("group")["split"].nunique() == 1).all()
    for key in ("dup_group", "patient_id"):
        linked = out[out[key] != ""]
        assert (linked.groupby(key)["split"].nunique() == 1).all()


def test_leakage_groups_join_patient_and_copy_chains():
    df = pd.DataFrame({"source": ["a"] * 5, "patient_id": ["p1", "p1", "p2", "", ""],
                       "dup_group": ["", "dup-1", "dup-1", "", ""], "label": ["Normal"] * 5})
    g = leakage_groups(df)
    assert g[0] == g[1] == g[2] and len({g[0], g[3], g[4]}) == 3


def test_same_seed_same_split_other_seed_differs():
    df = _manifest()
    a = make_splits(df, scheme=None, seed=3)["split"].tolist()
    b = make_splits(df, scheme=None, seed=3)["split"].tolist()
    c = make_splits(df, scheme=None, seed=4)["split"].tolist()
    assert a == b and a != c


def test_fractions_and_stratification_roughly_hold():
    df = _manifest(1200)
    scheme = load_scheme("3class")
    out = make_splits(df, scheme=scheme, fractions=(0.7, 0.15, 0.15), seed=0)
    share = out["split"].value_counts(normalize=True)
    assert abs(share["train"] - 0.7) < 0.03 and abs(share["val"] - 0.15) < 0.03
    table = split_table(out, scheme)
    class_share = table.div(table.sum(axis=0), axis=1)  # per class: fraction in each split
    assert (class_share.loc["train"].between(0.62, 0.78)).all()
    assert (class_share.loc["test"].between(0.09, 0.21)).all()


def test_holdout_source_goes_external_with_its_copies():
    df = _manifest()
    out = make_splits(df, scheme=None, seed=0, holdout_sources=["s3"])
    assert (out.loc[out["source"] == "s3", "split"] == "external").all()
    ext_groups = set(out.loc[out["source"] == "s3", "group"])
    assert (out.loc[out["group"].isin(ext_groups), "split"] == "external").all()
    assert set(out.loc[~out["group"].isin(ext_groups), "split"]) == {"train", "val", "test"}


def test_respect_given_keeps_layout_splits():
    df = _manifest()
    df.loc[:99, "split"] = "test"
    out = make_splits(df, scheme=None, seed=0, respect_given=True)
    touched = out["group"].isin(set(out.loc[:99, "group"]))
    assert (out.loc[touched, "split"] == "test").all()  # given rows keep it, and their groups follow
    assert set(out.loc[~touched, "split"]) == {"train", "val", "test"}
    ignored = make_splits(df, scheme=None, seed=0)
    assert set(ignored.loc[:99, "split"]) != {"test"}


def test_rows_excluded_by_scheme_still_get_a_split():
    df = _manifest()
    df.loc[:20, "label"] = "Other"  # not in the 4class scheme (3class trains it as Pneumonia)
    out = make_splits(df, scheme=load_scheme("4class"), seed=0)
    assert set(out.loc[:20, "split"]) <= {"train", "val", "test"}
    assert "(Other)" in split_table(out, load_scheme("4class")).columns


def test_zero_test_fraction_leaves_test_empty():
    out = make_splits(_manifest(), scheme=None, fractions=(0.8, 0.2, 0.0), seed=0)
    assert "test" not in set(out["split"])


def test_bad_fractions_and_unknown_holdout_are_user_errors():
    df = _manifest(50)
    with pytest.raises(ConfigError, match="fractions"):
        make_splits(df, fractions=(0.0, 0.5, 0.5))
    with pytest.raises(ConfigError, match="nope"):
        make_splits(df, holdout_sources=["nope"])


def test_each_source_is_stratified_not_just_each_class():
    """Normal films from an adult and a paediatric source must both reach every split."""
    import pandas as pd

    from cxrlab.data.splits import make_splits

    rows = []
    for i in range(300):
        rows.append({"path": f"/a/{i}.png", "label": "Normal", "source": "adult", "patient_id": f"a{i}", "dup_group": ""})
    for i in range(100):
        # paired copies: size-2 groups are placed first by the greedy assignment
        rows.append({"path": f"/k/{i}.png", "label": "Normal", "source": "kids", "patient_id": "", "dup_group": f"d{i // 2}"})
    out = make_splits(pd.DataFrame(rows), seed=3)
    table = pd.crosstab(out["source"], out["split"])
    for source, total in (("adult", 300), ("kids", 100)):
        assert abs(table.loc[source, "test"] / total - 0.15) < 0.05, table
        assert abs(table.loc[source, "train"] / total - 0.70) < 0.05, table
