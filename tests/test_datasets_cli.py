"""``cxrlab datasets list | download`` through the real command line (loopback server, no internet)."""

from __future__ import annotations

import socket

import pytest
from helpers_datasets import FixtureServer, make_zip, start_server
from typer.testing import CliRunner

from cxrlab.cli import build_app, main
from cxrlab.data.download.catalog import get_entry


@pytest.fixture
def server():
    state = FixtureServer()
    httpd, thread = start_server(state)
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def _invoke(args: list[str]):
    return CliRunner().invoke(build_app(), args)


def test_list_names_every_dataset_and_how_it_is_checked():
    result = _invoke(["datasets", "list"])
    assert result.exit_code == 0
    for name in ("ieee8023-covid", "actualmed-covid", "figure1-covid", "kermany-pneumonia", "rsna-pneumonia"):
        assert name in result.output
    assert "TOFU" in result.output and "manual" in result.output
    verbose = _invoke(["datasets", "list", "-v"])
    assert "CC BY 4.0" in verbose.output and "arXiv:2006.11988" in verbose.output


def test_download_via_mirror_extracts_and_prints_license(server, tmp_path):
    entry = get_entry("figure1-covid", base_url=server.base_url)
    server.files[entry.url.removeprefix(server.base_url)] = make_zip(
        {"repo-x/metadata.csv": b"patientid,finding,imagename\n", "repo-x/images/a.jpg": b"j"})
    result = _invoke(["datasets", "download", "figure1-covid", "--dest", str(tmp_path), "--base-url", server.base_url])
    assert result.exit_code == 0, result.output
    assert "research purposes only" in result.output and "cxrlab index" in result.output
    assert (tmp_path / "figure1-covid" / "images" / "a.jpg").exists()


def test_account_dataset_prints_steps_and_fails(tmp_path):
    result = _invoke(["datasets", "download", "rsna-pneumonia", "--dest", str(tmp_path)])
    assert result.exit_code == 1
    assert "kaggle competitions download -c rsna-pneumonia-detection-challenge" in result.output


def test_offline_error_is_one_clear_line_without_traceback(tmp_path, capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SystemExit) as info:
        main(["datasets", "download", "figure1-covid", "--dest", str(tmp_path), "--base-url", f"http://127.0.0.1:{port}",
              "--connect-timeout", "1"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "offline" in err and "Traceback" not in err and f"127.0.0.1:{port}" in err.replace("\n", "")


def test_account_dataset_from_a_local_archive_is_extracted(tmp_path):
    archive = tmp_path / "covid19-radiography-database.zip"
    archive.write_bytes(make_zip({"COVID-19_Radiography_Dataset/COVID/images/COVID-1.png": b"p"}))
    result = _invoke(["datasets", "download", "covid19-radiography-db", "--dest", str(tmp_path / "d"),
                      "--archive", str(archive)])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "d" / "covid19-radiography-db"
    assert (folder / "COVID-19_Radiography_Dataset" / "COVID" / "images" / "COVID-1.png").exists()
    assert "Kaggle" in (folder / "DATASET.txt").read_text() and archive.exists()
