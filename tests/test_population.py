"""Adult / pediatric per film (cxrlab.data.population.infer) and `cxrlab population`, on generated manifests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cxrlab.cli import build_app
from cxrlab.data.manifest import read_manifest, write_manifest
from cxrlab.data.population.infer import (
    add_population, filter_population, infer_population, pediatric_warnings, population_table, read_overrides,
)
from cxrlab.data.population.age import parse_age
from cxrlab.data.synthetic.generate import save_dicom, synthetic_film, to_uint16_film
from cxrlab.errors import ConfigError
from cxrlab.labels import load_scheme


def _rows(*rows: tuple[str, str, str, str]) -> pd.DataFrame:
    """(path, label, source, dup_group) rows."""
    return pd.DataFrame(rows, columns=["path", "label", "source", "dup_group"])


def pooled_manifest() -> pd.DataFrame:
    """Kermany children (some copied into a pooled source), adult-or-unknown COVID, cxnet 'p' names."""
    return _rows(
        ("/d/kermany-pediatric/Normal/train_1.jpeg", "Normal", "kermany-pediatric", "dup-1"),
        ("/d/kermany-pediatric/Normal/train_2.jpeg", "Normal", "kermany-pediatric", ""),
        ("/d/kermany-pediatric/Pneumonia-Viral/v1.jpeg", "Pneumonia-Viral", "kermany-pediatric", ""),
        ("/d/kermany-pediatric/Pneumonia-Bacterial/b1.jpeg", "Pneumonia-Bacterial", "kermany-pediatric", ""),
        ("/d/kermany-pediatric/COVID/c1.jpeg", "COVID", "kermany-pediatric", "dup-2"),  # from ieee8023
        ("/d/kermany-pediatric/Pneumonia-Viral/v2.jpeg", "Pneumonia-Viral", "kermany-pediatric", "dup-3"),
        ("/d/radiography/Normal/Normal-1.jpg", "Normal", "covid19-radiography-db", "dup-1"),  # copy of a child
        ("/d/radiography/Normal/Normal-2.jpg", "Normal", "covid19-radiography-db", ""),
        ("/d/ieee/COVID/x.jpg", "COVID", "ieee8023-covid-chestxray", "dup-2"),
        ("/d/figure1/COVID/f.jpg", "COVID", "figure1-covid", "dup-3"),  # conflicting copy of kermany v2
        ("/d/covid-cxnet/COVID/446p.jpg", "COVID", "covid-cxnet", ""),
        ("/d/covid-cxnet/COVID/481p-.jpg", "COVID", "covid-cxnet", "dup-4"),
        ("/d/covid-cxnet/COVID/166-.jpg", "COVID", "covid-cxnet", ""),
        ("/d/radiography/COVID/COVID-9.jpg", "COVID", "covid19-radiography-db", "dup-4"),  # copy of 481p-
    )


def test_known_sources_names_and_copies():
    pop = infer_population(pooled_manifest(), read_files=False).tolist()
    assert pop[:4] == ["pediatric"] * 4  # Kermany's own Normal/Pneumonia films
    assert pop[4] == "unknown"  # Kermany's COVID films come from ieee8023: not children
    assert pop[5] == "unknown"  # a 'Kermany' film that is a copy of a COVID film is not from Kermany
    assert pop[6] == "pediatric" and pop[7] == "unknown"  # the copy of a child in the pooled source
    assert pop[8] == "unknown" and pop[9] == "unknown"
    assert pop[10:13] == ["pediatric", "pediatric", "unknown"]  # cxnet: trailing p (also 'p-') = pediatric
    assert pop[13] == "pediatric"  # copy of 481p-


def test_ages_from_manifest_columns_and_conflicting_groups():
    df = _rows(("/d/a/1.jpg", "Normal", "a", "g1"), ("/d/a/2.jpg", "Normal", "a", "g1"),
               ("/d/a/3.jpg", "Normal", "a", "g2"), ("/d/b/4.jpg", "Normal", "b", "g2"),
               ("/d/b/5.jpg", "Normal", "b", "g2"), ("/d/b/6.jpg", "Normal", "b", ""))
    df["age"] = ["7", "", "40", "9", "", "17.9"]
    pop = infer_population(df, read_files=False).tolist()
    assert pop[0] == "pediatric" and pop[1] == "pediatric"  # propagated inside g1
    assert pop[2] == "adult" and pop[3] == "pediatric" and pop[4] == "unknown"  # g2 disagrees: no guess
    assert pop[5] == "pediatric"


@pytest.mark.parametrize("text, years", [("045Y", 45.0), ("006M", 0.5), ("14", 14.0), ("63.0", 63.0),
                                         ("002W", 14 / 365.25), ("", None), ("abc", None), ("nan", None)])
def test_parse_age(text, years):
    assert parse_age(text) == (pytest.approx(years) if years is not None else None)


def test_dicom_patient_age_is_read_from_the_header(tmp_path):
    import pydicom

    pixels = to_uint16_film(synthetic_film("Normal", np.random.default_rng(0), 32), 12)
    paths = []
    for name, age in (("child.dcm", "008Y"), ("adult.dcm", "052Y"), ("noage.dcm", None)):
        path = save_dicom(tmp_path / name, pixels)
        if age:
            ds = pydicom.dcmread(path)
            ds.PatientAge = age
            ds.save_as(path)
        paths.append(str(path))
    df = pd.DataFrame({"path": paths, "label": "Normal", "source": "hospital"})
    assert infer_population(df).tolist() == ["pediatric", "adult", "unknown"]


def test_ieee8023_style_metadata_ages(tmp_path):
    (tmp_path / "ieee" / "images").mkdir(parents=True)
    (tmp_path / "ieee" / "_orig_meta").mkdir()
    pd.DataFrame({"patientid": ["1", "2", "3"], "filename": ["kid.png", "old.jpg", "blank.jpg"],
                  "age": ["4", "70", ""], "finding": ["Pneumonia", "COVID-19", "COVID-19"]}).to_csv(
        tmp_path / "ieee" / "_orig_meta" / "metadata.csv", index=False)
    # the re-encoded copy keeps the name stem (kid.jpg for kid.png), one class folder deeper
    df = pd.DataFrame({"path": [str(tmp_path / "ieee" / "Pneumonia" / "kid.jpg"),
                                str(tmp_path / "ieee" / "COVID" / "old.jpg"),
                                str(tmp_path / "ieee" / "COVID" / "blank.jpg")],
                       "label": ["Pneumonia", "COVID", "COVID"], "source": "ieee"})
    assert infer_population(df).tolist() == ["pediatric", "adult", "unknown"]
    assert infer_population(df, read_files=False).tolist() == ["unknown"] * 3


def test_user_overrides_win(tmp_path):
    df = pooled_manifest()
    df["sha1"] = [f"s{i}" for i in range(len(df))]
    table = tmp_path / "overrides.csv"
    pd.DataFrame({"path": ["/d/kermany-pediatric/Normal/train_2.jpeg", "", ""], "sha1": ["", "s8", ""],
                  "source": ["", "", "covid19-radiography-db"],
                  "population": ["adult", "Adult", "adult"]}).to_csv(table, index=False)
    pop = infer_population(df, overrides=read_overrides(table), read_files=False)
    assert pop[1] == "adult"  # path override beats the Kermany source rule
    assert pop[8] == "adult"  # by file hash; its copy in kermany (row 4) follows through dup-2
    assert pop[4] == "adult"
    assert pop[7] == "adult"  # a whole-source default fills rows without other evidence...
    assert pop[6] == "pediatric"  # ... but not the copy of a Kermany child
    assert pop[0] == "pediatric"


def test_user_source_default_replaces_the_built_in_rule(tmp_path):
    table = tmp_path / "overrides.csv"
    pd.DataFrame({"source": ["kermany-pediatric"], "population": ["adult"]}).to_csv(table, index=False)
    pop = infer_population(pooled_manifest(), overrides=read_overrides(table), read_files=False)
    assert pop[:6].tolist() == ["adult"] * 6
    assert pop[6] == "adult"  # copies follow


def test_bad_override_tables(tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"path": ["x.jpg"], "population": ["teen"]}).to_csv(bad, index=False)
    with pytest.raises(ConfigError, match="teen"):
        read_overrides(bad)
    pd.DataFrame({"file": ["x.jpg"], "population": ["adult"]}).to_csv(bad, index=False)
    with pytest.raises(ConfigError, match="'path', 'sha1', 'source'"):
        read_overrides(bad)
    with pytest.raises(ConfigError, match="not found"):
        read_overrides(tmp_path / "missing.csv")


def test_filter_table_and_warnings():
    df = add_population(pooled_manifest(), read_files=False)
    adults = filter_population(df, "adult")
    assert (adults["population"] != "pediatric").all() and len(adults) == (df["population"] == "unknown").sum()
    assert len(filter_population(df, "adult", on_unknown="drop")) == 0
    assert (filter_population(df, "pediatric", on_unknown="drop")["population"] == "pediatric").all()
    with pytest.raises(ConfigError):
        filter_population(df, "teen")
    scheme = load_scheme("3class")
    table = population_table(df, scheme)
    assert table.loc[("kermany-pediatric", "pediatric"), "Pneumonia"] == 2
    assert table.loc[("kermany-pediatric", "pediatric"), "total"] == 4
    warnings = pediatric_warnings(df, scheme)
    assert warnings[0].startswith("8 of 14 films are pediatric")
    assert any(w.startswith("Pneumonia: 67%") and "child => Pneumonia" in w for w in warnings)
    assert not any(w.startswith("COVID") for w in warnings)  # 3 of 8 COVID films: not mostly
    assert pediatric_warnings(df[df["population"] != "pediatric"], scheme) == []


def test_cli_writes_column_warns_and_excludes(tmp_path):
    path = tmp_path / "work" / "manifest.csv"
    write_manifest(pooled_manifest(), path)
    runner = CliRunner()
    res = runner.invoke(build_app(), ["population", "--manifest", str(path)])
    assert res.exit_code == 0, res.output
    assert "kermany-pediatric" in res.output and "child => Pneumonia" in res.output
    written = read_manifest(path)
    assert written["population"].tolist()[:4] == ["pediatric"] * 4 and len(written) == 14
    res = runner.invoke(build_app(), ["population", "--manifest", str(path), "--exclude", "pediatric"])
    assert res.exit_code == 0, res.output
    left = read_manifest(path)
    assert len(left) == 6 and "pediatric" not in set(left["population"])
    assert "removed 8 of 14 films; left: COVID 4, Normal 1, Pneumonia 1" in res.output
    res = runner.invoke(build_app(), ["population", "--manifest", str(path), "--exclude", "children"])
    assert isinstance(res.exception, ConfigError) and "--exclude" in str(res.exception)
    assert len(read_manifest(path)) == 6  # nothing written


def test_training_population_adult_drops_pediatric_train_val_films_and_all_warns():
    from cxrlab.train.config import load_train_config
    from cxrlab.train.train_data import apply_population

    df = pooled_manifest().assign(split=lambda d: (["train", "val", "test"] * len(d))[: len(d)])
    scheme = load_scheme("3class")
    pediatric = infer_population(df) == "pediatric"
    kept, notes = apply_population(df, "adult", scheme)
    fitting_kids = pediatric & df["split"].isin(["train", "val"])
    assert len(kept) == len(df) - int(fitting_kids.sum()) and fitting_kids.any()
    assert not ((kept["population"] == "pediatric") & kept["split"].isin(["train", "val"])).any()
    assert (kept["population"] == "pediatric").sum() == int((pediatric & (df["split"] == "test")).sum())
    assert notes == [f"population=adult: dropped {int(fitting_kids.sum())} pediatric train/val films"]
    everything, warnings = apply_population(df, "all", scheme)
    assert len(everything) == len(df) and warnings and all(w.startswith("training split: ") for w in warnings)
    assert "pediatric" in warnings[0]
    assert load_train_config(None, ["data.population=adult"]).data.population == "adult"
    with pytest.raises(ConfigError, match="data.population"):
        load_train_config(None, ["data.population=kids"])
