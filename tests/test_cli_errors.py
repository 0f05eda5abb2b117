"""The console entry point prints an OS error on a file the user named (unwritable output, missing
folder) as one plain line with exit status 2, never a traceback."""

from __future__ import annotations

import pytest

from cxrlab.cli import main
from helpers_index import save_image


def test_an_unwritable_output_of_any_command_is_one_plain_line(tmp_path, capsys):
    for i in range(2):
        save_image(tmp_path / "data" / "COVID" / f"c{i}.png", seed=i)
        save_image(tmp_path / "data" / "Normal" / f"n{i}.png", seed=10 + i)
    manifest = tmp_path / "m.csv"
    with pytest.raises(SystemExit) as info:
        main(["index", str(tmp_path / "data"), "--out", str(manifest), "--no-progress", "--workers", "1"])
    assert info.value.code in (0, None)
    (tmp_path / "file").write_text("x")
    target = tmp_path / "file" / "eda.html"  # a folder that is a file: eda has no early check of its own
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["eda", "--manifest", str(manifest), "--out", str(target)])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "Traceback" not in err
    assert err.startswith("error: ") and str(tmp_path / "file") in err and "a file is in the way of a folder" in err
