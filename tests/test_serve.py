"""The service with FastAPI's TestClient: endpoints, the page, and every kind of bad input
getting a clear 4xx JSON error (never a 500)."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from cxrlab.errors import ConfigError
from cxrlab.export.bundle import export_bundle
from cxrlab.predict.predictor import Predictor
from cxrlab.serve.app import create_app, static_dir
from cxrlab.serve.config import ServeConfig

from helpers_deploy import SIZE, film, make_run, png_bytes, single_thread_torch, unsupported_dicom

_one_thread = pytest.fixture(scope="module", autouse=True)(single_thread_torch)

LIMITS = ServeConfig(max_upload_bytes=200_000, max_pixels=1_000_000)


@pytest.fixture(scope="module")
def bundle_path(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    return export_bundle(make_run(root / "run", thresholds={"COVID": 0.3}), root / "model.cxrlab").path


@pytest.fixture(scope="module")
def client(bundle_path):
    loads = []

    def loader():
        loads.append(1)
        return Predictor.from_bundle(bundle_path)

    with TestClient(create_app(loader, LIMITS)) as c:
        c.loads = loads
        yield c


def _post(client, data: bytes, name: str = "x.png", query: str = ""):
    return client.post(f"/v1/predict{query}", files={"file": (name, data, "application/octet-stream")})


def _png_size(b64: str) -> tuple[int, int]:
    return Image.open(io.BytesIO(base64.b64decode(b64))).size


def test_health_model_card_and_single_load(client):
    assert client.get("/health").json() == {"status": "ok", "model": "run", "classes": ["COVID", "Normal", "Pneumonia"],
                                            "heatmaps": True}
    card = client.get("/v1/model").json()
    assert card["classes"] == ["COVID", "Normal", "Pneumonia"] and "not a medical device" in card["intended_use"]
    _post(client, png_bytes(film()))
    assert client.loads == [1]  # loaded once, in lifespan


def test_predict_png_with_heatmap_and_model_view(client):
    r = _post(client, png_bytes(film("COVID", 1, 90)), query="?heatmap=true&image=true")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body["probabilities"]) == {"COVID", "Normal", "Pneumonia"}
    assert abs(sum(body["probabilities"].values()) - 1) < 1e-6
    assert body["label"] == max(body["probabilities"], key=body["probabilities"].get)
    covid = body["probabilities"]["COVID"]
    assert (body["decision"]["label"] == "COVID") == (covid >= 0.3) and body["decision"]["thresholds"] == {"COVID": 0.3}
    assert _png_size(body["heatmap"]["png_base64"]) == (90, 90)  # on the film, not the model's view
    assert _png_size(body["heatmap"]["colors_png_base64"]) == (90, 90)
    assert _png_size(body["image"]["png_base64"]) == (SIZE, SIZE)
    assert body["film"]["width"] == 90 and _png_size(body["film"]["png_base64"]) == (90, 90)
    assert body["warnings"] == [] and body["dicom"] == {}
    assert "heatmap" not in _post(client, png_bytes(film())).json()  # heatmaps only on request


def test_predict_dicom_and_raw_body(client, image_files):
    dicom = image_files["dicom_m1"].read_bytes()
    r = _post(client, dicom, name="scan.dcm")
    assert r.status_code == 200 and r.json()["filename"] == "scan.dcm"
    raw = client.post("/v1/predict", content=dicom, headers={"content-type": "application/dicom"})
    assert raw.status_code == 200 and raw.json()["probabilities"] == r.json()["probabilities"]


def _bomb_png() -> bytes:
    buf = io.BytesIO()
    Image.new("L", (2000, 2000)).save(buf, format="PNG")  # 4 Mpixel, a few kB compressed
    return buf.getvalue()


@pytest.mark.parametrize("case, status, code", [
    ("zero_bytes", 400, "empty_file"),
    ("text", 415, "unsupported_format"),
    ("truncated", 422, "unreadable_image"),
    ("bomb", 413, "too_many_pixels"),
    ("oversized_upload", 413, "upload_too_large"),
    ("unsupported_dicom", 415, "unsupported_dicom"),
    ("ct_dicom", 422, "not_a_chest_radiograph"),
])
def test_bad_uploads_get_clear_4xx_json_errors(client, tmp_path, case, status, code):
    good = png_bytes(film("Normal", 2, 80))
    payload = {
        "zero_bytes": lambda: b"",
        "text": lambda: b"hello, this is not an image",
        "truncated": lambda: good[: len(good) // 2],
        "bomb": _bomb_png,
        "oversized_upload": lambda: np.random.default_rng(0).bytes(300_000),
        "unsupported_dicom": lambda: unsupported_dicom(tmp_path / "j2k.dcm", film()).read_bytes(),
        "ct_dicom": lambda: _pydicom_test_file("CT_small.dcm"),
    }[case]()
    r = _post(client, payload, name="upload.dcm" if case.endswith("dicom") else "upload.png")
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code and error["message"]


def _pydicom_test_file(name: str) -> bytes:
    from pydicom.data.data_manager import DATA_ROOT

    return (Path(DATA_ROOT) / "test_files" / name).read_bytes()


def test_a_dicom_whose_voi_window_is_zero_is_predicted_not_a_500(client, tmp_path):
    from cxrlab.data.synthetic.generate import save_dicom

    import pydicom

    path = save_dicom(tmp_path / "ww0.dcm", np.full((64, 64), 100, dtype=np.uint16))
    ds = pydicom.dcmread(path)
    ds.WindowCenter, ds.WindowWidth = 100, 0
    ds.save_as(path)
    r = _post(client, path.read_bytes(), name="ww0.dcm")
    assert r.status_code == 200, r.text


def test_malformed_requests_are_4xx(client):
    r = client.post("/v1/predict", data={"x": "1"})  # a form without a file: its body is not an image
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_format"
    r = client.post("/v1/predict", files={"other": ("a.png", png_bytes(film()), "image/png")})
    assert r.status_code == 400 and r.json()["error"]["code"] == "missing_file"
    r = client.post("/v1/predict", content=b"--xx\r\nbroken", headers={"content-type": "multipart/form-data; boundary=xx"})
    assert 400 <= r.status_code < 500
    assert client.post("/v1/predict?heatmap=maybe", content=png_bytes(film())).status_code == 422
    assert client.get("/v1/nothing").status_code == 404 and "error" in client.get("/v1/nothing").json()


def test_oversized_streamed_upload_is_refused_without_content_length(client):
    chunks = (b"x" * 50_000 for _ in range(10))  # 500 kB, sent chunked: no Content-Length to check up front
    r = client.post("/v1/predict", content=chunks, headers={"content-type": "application/octet-stream"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "upload_too_large"


def test_random_garbage_never_gives_a_500(client):
    rng = np.random.default_rng(7)
    good = png_bytes(film())
    for i in range(12):
        blob = rng.bytes(int(rng.integers(1, 3000))) if i % 2 else good[:8] + rng.bytes(500)
        r = _post(client, blob, name=["a.png", "b.dcm", "c.jpg"][i % 3])
        assert 400 <= r.status_code < 500, (i, r.status_code, r.text)


def test_page_is_served_without_external_resources(client):
    r = client.get("/")
    assert r.status_code == 200 and "default-src 'self'" in r.headers["content-security-policy"]
    assert 'id="file"' in r.text and 'id="intended-use"' in r.text
    for name in ("index.html", "app.js", "style.css"):
        text = (static_dir() / name).read_text(encoding="utf-8")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text), f"{name} references an external URL"
        assert client.get(f"/static/{name}").status_code == 200


def test_serve_config_rejects_nonsense():
    with pytest.raises(ConfigError):
        ServeConfig(port=70000)
    with pytest.raises(ConfigError):
        ServeConfig(max_upload_bytes=10)
    with pytest.raises(ConfigError):
        ServeConfig(read_timeout_s=0)


def test_heatmap_is_drawn_at_the_films_aspect(client):
    wide = np.hstack([film("COVID", 1, 80), film("COVID", 2, 80)])
    body = _post(client, png_bytes(wide), query="?heatmap=true&image=true").json()
    assert _png_size(body["heatmap"]["png_base64"]) == (160, 80) and body["film"] == {
        "width": 160, "height": 80, "png_base64": body["film"]["png_base64"], "shown_width": 160, "shown_height": 80}


def test_lateral_dicom_and_degenerate_images_carry_warnings_and_dicom_fields(client, tmp_path):
    from cxrlab.data.synthetic.generate import save_dicom

    lateral = save_dicom(tmp_path / "lat.dcm", film().astype(np.uint16) * 16, view="LL").read_bytes()
    body = _post(client, lateral, name="lat.dcm").json()
    assert any("lateral view (ViewPosition=LL)" in w for w in body["warnings"]) and body["probabilities"]
    assert body["dicom"]["view"] == "LL" and body["dicom"]["modality"] == "DX"
    blank = _post(client, png_bytes(np.full((100, 100), 50, np.uint8))).json()
    assert blank["warnings"] == ["degenerate image: 100x100 with constant pixels (all 50)"]


def test_refused_image_is_a_4xx_with_the_reason_never_probabilities(client, monkeypatch):
    from cxrlab.errors import ImageRefusedError
    from cxrlab.predict import predictor as predictor_module

    def refuse(source, name=None, **_kwargs):
        raise ImageRefusedError(name, "not a radiograph (Modality CT)")

    monkeypatch.setattr(predictor_module, "read_image", refuse)
    r = _post(client, png_bytes(film()), name="ct.dcm")
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_a_chest_radiograph"
    assert "Modality CT" in r.json()["error"]["message"] and "probabilities" not in r.json()


def test_utf8_and_percent_encoded_raw_body_file_names_come_back_intact(client):
    data = png_bytes(film())
    for header in ("thorax-été-✓.png".encode("utf-8"), b"thorax-%C3%A9t%C3%A9-%E2%9C%93.png"):
        r = client.post("/v1/predict", content=data, headers={"content-type": "image/png", "x-filename": header})
        assert r.status_code == 200 and r.json()["filename"] == "thorax-été-✓.png", r.text
    r = client.post("/v1/predict", content=data, headers={"content-type": "image/png", "x-filename": b"../../etc/x\x01.png"})
    assert r.json()["filename"] == "x.png"
    r = _post(client, data, name="poumon-é.png")
    assert r.json()["filename"] == "poumon-é.png"


def test_a_stalled_upload_body_is_refused_with_408():
    import anyio
    from starlette.requests import Request

    from cxrlab.serve.errors import ApiError
    from cxrlab.serve.upload import read_upload

    async def stalled_receive():
        if not sent:
            sent.append(1)
            return {"type": "http.request", "body": b"x" * 100, "more_body": True}
        await anyio.sleep(60)  # the client never sends the rest

    async def attempt():
        scope = {"type": "http", "method": "POST", "headers": [(b"content-length", b"5000")], "path": "/"}
        with anyio.fail_after(5):
            await read_upload(Request(scope, stalled_receive), 10_000, read_timeout=0.2)

    sent: list[int] = []
    with pytest.raises(ApiError) as info:
        anyio.run(attempt)
    assert info.value.status == 408 and "stalled" in info.value.message and "100 bytes" in info.value.message
