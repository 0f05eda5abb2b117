from dataclasses import dataclass

import pytest

from cxrlab.config import PreprocessConfig, from_dict, load_config, save_config
from cxrlab.errors import ConfigError
from cxrlab.labels import builtin_schemes, canonical_label, load_scheme


@dataclass(frozen=True)
class Inner:
    lr: float = 0.1
    steps: int = 3


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    inner: Inner = Inner()
    tags: tuple[str, ...] = ()
    flag: bool = False


def test_yaml_and_overrides_load_into_frozen_dataclass(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: run\ninner:\n  lr: 0.5\ntags: [a, b]\n")
    cfg = load_config(Outer, path, ["inner.steps=7", "flag=true"])
    assert cfg == Outer(name="run", inner=Inner(lr=0.5, steps=7), tags=("a", "b"), flag=True)
    save_config(cfg, tmp_path / "saved.yaml")
    assert load_config(Outer, tmp_path / "saved.yaml") == cfg


@pytest.mark.parametrize("data, msg", [({"bogus": 1}, "unknown key"), ({"inner": {"steps": "many"}}, "inner.steps"), ({"flag": "perhaps"}, "true/false")])
def test_bad_config_is_rejected_with_the_key_named(data, msg):
    with pytest.raises(ConfigError, match=msg):
        from_dict(Outer, data)


def test_preprocess_config_validates():
    with pytest.raises(ConfigError, match="resize"):
        PreprocessConfig(resize="squash")
    assert PreprocessConfig().key() == "s224-stretch-none"


@pytest.mark.parametrize(
    "text, label",
    [("COVID-19", "COVID"), ("Pneumonia/Viral/COVID-19", "COVID"), ("Pneumonia/Bacterial/Streptococcus", "Pneumonia-Bacterial"),
     ("Viral Pneumonia", "Pneumonia-Viral"), ("No Finding", "Normal"), ("NORMAL", "Normal"), ("Lung_Opacity", "Lung_Opacity"),
     ("Pneumonia", "Pneumonia"), ("Pneumonia/Fungal/Pneumocystis", "Other"), ("todo", None)],
)
def test_canonical_labels(text, label):
    assert canonical_label(text) == label


def test_builtin_schemes_map_and_exclude():
    s3 = builtin_schemes()["3class"]  # Pneumonia also holds the other non-COVID findings (Lung_Opacity, Other)
    classes, excluded = s3.apply(["COVID", "Pneumonia-Viral", "Lung_Opacity", "Normal", "Other"])
    assert classes == ["COVID", "Pneumonia", "Pneumonia", "Normal", "Pneumonia"]
    assert excluded == {}
    classes, excluded = builtin_schemes()["4class"].apply(["Other", "Lung_Opacity"])
    assert classes == [None, "Lung_Opacity"] and excluded == {"Other": 1}
    s4 = builtin_schemes()["4class"]
    assert s4.map("Pneumonia-Viral") == "Viral_Pneumonia" and s4.map("Pneumonia-Bacterial") is None
    assert builtin_schemes()["binary"].map("COVID") == "Abnormal"


def test_user_yaml_scheme(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("name: covid-rest\nclasses: [COVID, Rest]\nmapping: {COVID-19: COVID, Normal: Rest}\n")
    s = load_scheme(p)
    assert s.classes == ("COVID", "Rest") and s.map("COVID") == "COVID" and s.map("Pneumonia") is None
    p.write_text("classes: [A, B]\nmapping: {Normal: C}\n")
    with pytest.raises(ConfigError, match="unknown class"):
        load_scheme(p)
    with pytest.raises(ConfigError, match="unknown label scheme"):
        load_scheme("5class")


def test_atomic_writes_use_normal_permissions_and_leave_no_temp_files(tmp_path):
    import os

    from cxrlab.io.atomic import atomic_open, write_text

    target = tmp_path / "out.txt"
    write_text(target, "hello")
    assert target.read_text() == "hello"
    mask = os.umask(0)
    os.umask(mask)
    assert (target.stat().st_mode & 0o777) == (0o666 & ~mask)
    with pytest.raises(RuntimeError):
        with atomic_open(target) as fh:
            fh.write("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "hello" and sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_atomic_dir_keeps_the_old_folder_when_the_build_fails(tmp_path):
    from cxrlab.io.atomic import atomic_dir

    target = tmp_path / "ckpt"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("v1")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "a.txt").write_text("half-written v2")
            raise RuntimeError("killed")
    assert (target / "a.txt").read_text() == "v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("v2")
    assert (target / "a.txt").read_text() == "v2" and sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
