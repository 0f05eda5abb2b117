"""Config fields with a fixed set of values are ``Literal`` types (``cxrlab.choices``): the loader,
the dataclasses and the CLI options all take the set from there, and a bad value is a ConfigError
naming the key, the value and the choices (and the YAML file)."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from cxrlab.choices import EqualizeMode, Imbalance, ResizeMode, TrainPopulation, choices
from cxrlab.cli import main
from cxrlab.config import PreprocessConfig, load_config
from cxrlab.errors import ConfigError
from cxrlab.train.config import DataConfig, LossConfig, TrainConfig, load_train_config


def test_a_bad_choice_in_yaml_names_the_file_key_value_and_choices(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text("data:\n  preprocess:\n    resize: sideways\n")
    with pytest.raises(ConfigError) as info:
        load_train_config(path)
    message = str(info.value)
    assert str(path) in message and "data.preprocess.resize" in message and "'sideways'" in message
    assert "stretch, letterbox, center-crop" in message


@pytest.mark.parametrize("override, key, value", [
    ("loss.imbalance=oversample", "loss.imbalance", "'oversample'"),
    ("data.population=kids", "data.population", "'kids'"),
    ("monitor=val_f2", "monitor", "'val_f2'"),
    ("data.preprocess.equalize=7", "data.preprocess.equalize", "7"),
])
def test_a_bad_choice_in_an_override_names_key_value_and_choices(override, key, value):
    with pytest.raises(ConfigError) as info:
        load_train_config(None, [override])
    message = str(info.value)
    field = typing.get_type_hints(_owner(key))[key.rsplit(".", 1)[-1]]
    assert message.startswith(f"{key}: {value} ") and ", ".join(choices(field)) in message


def _owner(key: str) -> type:
    owners = {"loss": LossConfig, "data": DataConfig, "data.preprocess": PreprocessConfig}
    return owners.get(key.rpartition(".")[0], TrainConfig)


def test_good_choices_load_and_direct_construction_is_checked_too():
    cfg = load_config(PreprocessConfig, None, ["resize=letterbox", "equalize=clahe", "crop=lungs"])
    assert (cfg.resize, cfg.equalize, cfg.crop) == ("letterbox", "clahe", "lungs")
    with pytest.raises(ConfigError, match=r"loss.imbalance: 'smote' .*sampler"):
        LossConfig(imbalance="smote")
    assert load_train_config(None, ["loss.imbalance=focal"]).loss.imbalance == "focal"


def test_the_set_option_gives_the_clear_error_on_the_command_line(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--set", "loss.imbalance=oversample"])
    assert info.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "loss.imbalance: 'oversample'" in err and ", ".join(choices(Imbalance)) in err


@pytest.mark.parametrize("command, option, literal", [
    ("cache", "resize", ResizeMode), ("cache", "equalize", EqualizeMode),
    ("train", "population", TrainPopulation), ("loso", "population", TrainPopulation),
])
def test_cli_options_take_their_choices_from_the_literal(command, option, literal, capsys):
    with pytest.raises(SystemExit) as info:  # refused by the option itself, before any work
        main([command, f"--{option}", "bogus"])
    assert info.value.code == 2
    err = " ".join(capsys.readouterr().err.replace("│", " ").split())
    assert f"'--{option}'" in err and ", ".join(map(repr, choices(literal))) in err


def test_every_literal_field_of_the_configs_is_a_known_choice_set():
    literals = {ResizeMode, EqualizeMode, TrainPopulation, Imbalance}
    found = set()
    for cls in (PreprocessConfig, DataConfig, LossConfig, TrainConfig):
        for f in dataclasses.fields(cls):
            hint = typing.get_type_hints(cls)[f.name]
            if typing.get_origin(hint) is typing.Literal:
                found.add(hint)
                assert f.default in choices(hint), (cls.__name__, f.name)
    assert literals <= found
