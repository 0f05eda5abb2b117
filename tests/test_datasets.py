"""Dataset catalog, resumable verified downloads and safe extraction, against a loopback server."""

from __future__ import annotations

import csv
import hashlib
import io
import socket
import tarfile
import time
from pathlib import Path

import pytest
from helpers_datasets import FixtureServer, make_zip, start_server

from cxrlab.data.download.catalog import DatasetEntry, catalog, get_entry
from cxrlab.data.download.http_file import download, part_path
from cxrlab.data.download.errors import ChecksumError, DatasetError, DownloadError, OfflineError, UnsafeArchiveError
from cxrlab.data.download.extract import safe_extract
from cxrlab.data.download.fetch import INFO_FILE, fetch_dataset, record_path

PAYLOAD = bytes(range(256)) * 40  # 10,240 bytes


@pytest.fixture
def server():
    state = FixtureServer()
    httpd, thread = start_server(state)
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_truncated_download_resumes_where_it_stopped(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    server.cut["/f.bin"] = 3000
    dest = tmp_path / "f.bin"
    with pytest.raises(DownloadError, match="resume"):
        download(server.base_url + "/f.bin", dest, sha256=_sha(PAYLOAD), retries=0)
    assert not dest.exists() and part_path(dest).stat().st_size == 3000
    result = download(server.base_url + "/f.bin", dest, sha256=_sha(PAYLOAD), retries=0)
    assert server.requests[-1] == ("/f.bin", "bytes=3000-")
    assert result.resumed_from == 3000 and not result.reused
    assert dest.read_bytes() == PAYLOAD and not part_path(dest).exists()


def test_retry_within_one_call_resumes(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    server.cut["/f.bin"] = 1234
    result = download(server.base_url + "/f.bin", tmp_path / "f.bin", retries=1)
    assert [r[1] for r in server.requests] == [None, "bytes=1234-"]
    assert result.sha256 == _sha(PAYLOAD)


def test_server_without_range_support_starts_over(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    server.ranges = False
    dest = tmp_path / "f.bin"
    part_path(dest).write_bytes(b"stale bytes from another file")
    download(server.base_url + "/f.bin", dest, sha256=_sha(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD


def test_complete_part_file_is_accepted_after_416(server, tmp_path):
    server.files["/f.bin"] = PAYLOAD
    dest = tmp_path / "f.bin"
    part_path(dest).write_bytes(PAYLOAD)
    assert download(server.base_url + "/f.bin", dest, sha256=_sha(PAYLOAD)).size == len(PAYLOAD)


def test_corrupted_download_is_rejected_and_removed(server, tmp_path):
    corrupted = bytearray(PAYLOAD)
    corrupted[5000] ^= 0xFF
    server.files["/f.bin"] = bytes(corrupted)
    dest = tmp_path / "f.bin"
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        download(server.base_url + "/f.bin", dest, sha256=_sha(PAYLOAD))
    assert not dest.exists() and not part_path(dest).exists()


def test_http_error_names_the_url(server, tmp_path):
    with pytest.raises(DownloadError, match=r"/missing.zip: HTTP 404"):
        download(server.base_url + "/missing.zip", tmp_path / "m.zip")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_host_fails_fast_with_clear_message(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/data.zip"
    start = time.monotonic()
    with pytest.raises(OfflineError) as info:
        download(url, tmp_path / "data.zip", connect_timeout=1.0)
    assert time.monotonic() - start < 3
    assert url in str(info.value) and "offline" in str(info.value)
    assert not (tmp_path / "data.zip").exists()


def _entry(server: FixtureServer, sha256: str | None = None) -> DatasetEntry:
    return DatasetEntry(
        name="toy", title="Toy set", homepage="http://example.invalid", license="CC BY 4.0 (toy)",
        citation="Toy et al.", labels="COVID, Normal", approx_size="1 kB", layout="metadata.csv + images/",
        url=server.base_url + "/toy.zip", filename="toy.zip", sha256=sha256, strip_components=1,
    )


TOY = {"toy-abc/metadata.csv": b"filename,finding\na.png,COVID-19\n", "toy-abc/images/a.png": b"png",
       "toy-abc/__MACOSX/._a.png": b"junk"}


def test_fetch_pinned_dataset_extracts_and_records_license(server, tmp_path):
    data = make_zip(TOY)
    server.files["/toy.zip"] = data
    result = fetch_dataset(_entry(server, _sha(data)), tmp_path)
    assert result.folder == tmp_path / "toy" and result.files == 2
    assert (result.folder / "images" / "a.png").read_bytes() == b"png"
    assert not (result.folder / "__MACOSX").exists()
    info = (result.folder / INFO_FILE).read_text()
    assert "CC BY 4.0 (toy)" in info and _sha(data) in info and "pinned" in result.checked
    assert fetch_dataset(_entry(server, _sha(data)), tmp_path).reused


def test_fetch_rejects_corrupted_archive_against_pinned_checksum(server, tmp_path):
    data = make_zip(TOY)
    server.files["/toy.zip"] = data[:-40] + b"\0" * 40
    with pytest.raises(ChecksumError):
        fetch_dataset(_entry(server, _sha(data)), tmp_path)
    assert not (tmp_path / "toy").exists() and not (tmp_path / "toy.zip").exists()


def test_unpinned_dataset_trusts_first_use_then_checks(server, tmp_path):
    server.files["/toy.zip"] = make_zip(TOY)
    first = fetch_dataset(_entry(server), tmp_path, keep_archive=False)
    assert "first use" in first.checked and not (tmp_path / "toy.zip").exists()
    assert record_path(tmp_path, _entry(server)).read_text().startswith(first.sha256)
    server.files["/toy.zip"] = make_zip({**TOY, "toy-abc/images/b.png": b"changed upstream"})
    with pytest.raises(ChecksumError):
        fetch_dataset(_entry(server), tmp_path, force=True)


def test_catalog_base_url_serves_a_real_entry_from_loopback(server, tmp_path):
    entry = get_entry("figure1-covid", base_url=server.base_url)
    assert entry.url.startswith(server.base_url + "/agchung/Figure1-COVID-chestxray-dataset/archive/")
    server.files[entry.url.removeprefix(server.base_url)] = make_zip(
        {"Figure1-x/metadata.csv": b"patientid,finding,imagename\n", "Figure1-x/images/COVID-1.jpg": b"j"})
    result = fetch_dataset(entry, tmp_path)
    assert (result.folder / "metadata.csv").exists() and (result.folder / "images" / "COVID-1.jpg").exists()
    assert "research purposes only" in (result.folder / INFO_FILE).read_text()


def test_catalog_entries_are_complete_and_honest():
    entries = catalog()
    assert {"ieee8023-covid", "actualmed-covid", "figure1-covid", "kermany-pneumonia"} <= set(entries)
    for entry in entries.values():
        assert entry.license and entry.citation and entry.layout and entry.approx_size
        if entry.manual:
            assert entry.manual_steps and "account" in entry.verification
        else:
            assert entry.url.startswith("https://") and entry.filename
            assert entry.sha256 or "first download" in entry.verification
    assert "/archive/" in entries["ieee8023-covid"].url and entries["ieee8023-covid"].revision in entries["ieee8023-covid"].url
    with pytest.raises(DatasetError, match="known: "):
        get_entry("no-such-set")


def test_account_datasets_print_manual_steps(tmp_path):
    with pytest.raises(DatasetError) as info:
        fetch_dataset(get_entry("covid19-radiography-db"), tmp_path)
    text = str(info.value)
    assert "kaggle datasets download -d tawsifurrahman/covid19-radiography-database" in text
    assert f"cxrlab index {tmp_path}/covid19-radiography-db" in text


def test_zip_slip_is_refused_and_nothing_written(tmp_path):
    archive = tmp_path / "evil.zip"
    archive.write_bytes(make_zip({"ok/a.txt": b"fine", "../../evil.txt": b"pwned"}))
    with pytest.raises(UnsafeArchiveError, match="outside the destination"):
        safe_extract(archive, tmp_path / "out" / "set")
    assert not (tmp_path / "out" / "set").exists() and not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # no staging left over


def test_absolute_member_refused(tmp_path):
    archive = tmp_path / "abs.zip"
    archive.write_bytes(make_zip({"/etc/cxrlab-test": b"x"}))
    with pytest.raises(UnsafeArchiveError, match="absolute"):
        safe_extract(archive, tmp_path / "set")


def test_tar_symlink_refused(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        link = tarfile.TarInfo("set/link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    archive = tmp_path / "link.tar.gz"
    archive.write_bytes(buf.getvalue())
    with pytest.raises(UnsafeArchiveError, match="link"):
        safe_extract(archive, tmp_path / "set")
    assert not (tmp_path / "set").exists()


def test_tar_extracts_regular_files(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("top/NORMAL/x.png")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"abc"))
    archive = tmp_path / "t.tar.gz"
    archive.write_bytes(buf.getvalue())
    assert safe_extract(archive, tmp_path / "set", strip_components=1) == 1
    assert (tmp_path / "set" / "NORMAL" / "x.png").read_bytes() == b"abc"


def test_truncated_zip_is_refused_as_corrupt(tmp_path):
    data = make_zip({"a/b.bin": bytes(5000)})
    archive = tmp_path / "cut.zip"
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(UnsafeArchiveError, match="not a zip or tar|corrupt"):
        safe_extract(archive, tmp_path / "set")
    assert not (tmp_path / "set").exists()


def test_zip_bomb_limit(tmp_path):
    archive = tmp_path / "big.zip"
    archive.write_bytes(make_zip({"a/zeros.bin": bytes(100_000)}))
    with pytest.raises(UnsafeArchiveError, match="limit"):
        safe_extract(archive, tmp_path / "set", max_bytes=10_000)


def test_existing_folder_is_not_overwritten(tmp_path: Path):
    archive = tmp_path / "a.zip"
    archive.write_bytes(make_zip({"x.txt": b"1"}))
    (tmp_path / "set").mkdir()
    with pytest.raises(UnsafeArchiveError, match="already exists"):
        safe_extract(archive, tmp_path / "set")


def _jpeg(film) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(film).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def test_covidnet_metadata_becomes_an_indexable_manifest(server, tmp_path):
    from conftest import make_film

    from cxrlab.data.index.indexer import index_datasets

    meta = (b"patientid,offset,finding,view,modality,notes\n"
            b"COVID-00003a,,COVID-19,AP erect,X-ray,\nCOVID-00003b,,COVID-19,AP erect,X-ray,\n"
            b"COVID-00023,,No finding,PA,X-ray,\nCOVID-00047,,,,X-ray,\n")
    members = {"r/metadata.csv": meta}
    for i, name in enumerate(("COVID-00003a.jpg", "COVID-00003b.jpg", "COVID-00023.png", "COVID-00047.jpg")):
        members[f"r/images/{name}"] = _jpeg(make_film("COVID", seed=i, size=48))
    entry = get_entry("figure1-covid", base_url=server.base_url)
    server.files[entry.url.removeprefix(server.base_url)] = make_zip(members)
    folder = fetch_dataset(entry, tmp_path).folder
    result = index_datasets([folder], workers=1, progress=False)
    df = result.manifest
    assert sorted(df["label"]) == ["COVID", "COVID", "Normal"]
    covid_patients = set(df.loc[df["label"] == "COVID", "patient_id"])
    assert len(covid_patients) == 1 and "COVID-00003" in covid_patients.pop()
    assert sum(result.unknown_labels.values()) == 1  # the blank finding is counted, not guessed


def test_actualmed_imagename_column_is_used(tmp_path):
    from cxrlab.data.download.layout import write_covidnet_manifest

    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "CR.1.png").write_bytes(b"x")
    (tmp_path / "metadata.csv").write_text("patientid,finding,view,modality,imagename\nANON1,No finding,PA,X-ray,CR.1.png\n"
                                           "ANON2,COVID-19,AP,X-ray,missing.png\n")
    rows = list(csv.DictReader(open(write_covidnet_manifest(tmp_path))))
    assert rows == [{"file": "images/CR.1.png", "class": "No finding", "original_label": "No finding",
                     "patient_id": "ANON1", "view": "PA", "modality": "X-ray"}]


def test_unreachable_proxy_is_named(server, tmp_path, monkeypatch):
    server.files["/f.bin"] = PAYLOAD
    port = _closed_port()
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with pytest.raises(OfflineError, match=f"via proxy 127.0.0.1:{port}"):
        download(server.base_url + "/f.bin", tmp_path / "f.bin", connect_timeout=1.0)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    assert download(server.base_url + "/f.bin", tmp_path / "f.bin").size == len(PAYLOAD)
