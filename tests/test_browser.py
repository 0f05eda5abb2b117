"""The web page in a real headless Chromium (Debian ``chromium`` + playwright): upload an image
and see the result rendered; upload junk and see the error."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers_deploy import film, make_run

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium (.ci/run installs it)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import uvicorn

    from cxrlab.export.bundle import export_bundle
    from cxrlab.predict.predictor import Predictor
    from cxrlab.serve.app import create_app

    root = tmp_path_factory.mktemp("browser")
    bundle = export_bundle(make_run(root / "run", thresholds={"COVID": 0.3}), root / "model.cxrlab").path
    port = _free_port()
    config = uvicorn.Config(create_app(Predictor.from_bundle(bundle)), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def page(server):
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extras")
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        tab = browser.new_page()
        tab.set_default_timeout(30_000)
        yield tab
        browser.close()


def test_upload_shows_heatmap_on_the_film_probabilities_decision_and_slider(server, page, tmp_path):
    image = tmp_path / "chest.png"
    Image.fromarray(np.hstack([film("COVID", 3, 120), film("COVID", 4, 120)])).save(image)  # 240 x 120
    external = []
    page.on("request", lambda req: external.append(req.url) if not req.url.startswith((server, "data:")) else None)
    page.goto(server + "/")
    page.wait_for_function("document.getElementById('intended-use').textContent.includes('not a medical device')")
    page.set_input_files("#file", str(image))
    page.wait_for_selector(".result-card .result-body:not([hidden])")
    card = page.locator(".result-card")
    assert card.count() == 1 and card.locator(".prob-row").count() == 3
    assert card.locator(".decision").inner_text() in ("COVID", "Normal", "Pneumonia")
    assert "threshold" in card.locator(".rule").inner_text()
    widths = page.eval_on_selector_all(".prob-row .bar > div", "els => els.map(e => parseFloat(e.style.width))")
    assert abs(sum(widths) - 100) < 0.5
    natural = "img => img.complete && [img.naturalWidth, img.naturalHeight]"
    assert page.eval_on_selector(".heat-image", natural) == [240, 120]  # the film's size and aspect
    assert page.eval_on_selector(".film-image", natural) == [240, 120]
    assert page.eval_on_selector(".input-image", natural) == [32, 32]
    assert "Heatmap for" in card.locator(".heatmap-caption").inner_text()
    box_film, box_heat = (page.locator(sel).bounding_box() for sel in (".film-image", ".heat-image"))
    assert abs(box_film["width"] - box_heat["width"]) < 1 and abs(box_film["height"] - box_heat["height"]) < 1
    page.locator(".opacity").fill("80")
    assert page.eval_on_selector(".heat-image", "img => getComputedStyle(img).opacity") == "0.8"
    assert card.locator(".warnings").is_hidden()
    assert external == []  # nothing fetched from outside the service


def test_several_files_get_one_card_each_with_warnings_dicom_fields_and_errors(server, page, tmp_path):
    from cxrlab.data.synthetic.generate import save_dicom

    good = tmp_path / "a-good.png"
    Image.fromarray(film("Normal", 5, 64)).save(good)
    lateral = save_dicom(tmp_path / "b-lateral.dcm", film("COVID", 6, 64).astype(np.uint16) * 16, view="LL")
    junk = tmp_path / "c-junk.png"
    junk.write_text("not an image")
    page.goto(server + "/")
    page.set_input_files("#file", [str(good), str(lateral), str(junk)])
    page.wait_for_function("() => document.getElementById('status').textContent.includes('of 3 files analysed')")
    cards = page.locator(".result-card")
    assert cards.count() == 3
    assert [cards.nth(i).locator(".filename").inner_text() for i in range(3)] == ["a-good.png", "b-lateral.dcm", "c-junk.png"]
    assert cards.nth(0).locator(".warnings").is_hidden() and cards.nth(0).locator(".result-body").is_visible()
    lat = cards.nth(1)
    assert "lateral view" in lat.locator(".warnings").inner_text()
    assert lat.locator('.dicom dd[data-field="view"]').inner_text() == "LL"
    assert lat.locator('.dicom dd[data-field="modality"]').inner_text() == "DX"
    assert "not a recognised image format" in cards.nth(2).locator(".card-error").inner_text()
    assert cards.nth(2).locator(".result-body").is_hidden()
    assert "2 of 3 files analysed, 1 failed" in page.inner_text("#status")


def test_dropping_a_file_on_the_page_runs_a_prediction(server, page):
    import base64

    from helpers_deploy import png_bytes

    page.goto(server + "/")
    page.evaluate(
        """(b64) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], "dropped.png", { type: "image/png" }));
            document.getElementById("drop").dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
        }""",
        base64.b64encode(png_bytes(film("Normal", 4, 64))).decode(),
    )
    page.wait_for_selector(".result-card .result-body:not([hidden])")
    assert "dropped.png" in page.inner_text("#status") and page.locator(".prob-row").count() == 3


def test_junk_upload_shows_the_error_message(server, page, tmp_path):
    junk = tmp_path / "notes.png"
    junk.write_text("not an image")
    page.goto(server + "/")
    page.set_input_files("#file", str(junk))
    page.wait_for_selector(".card-error:not([hidden])")
    assert "not a recognised image format" in page.inner_text(".card-error")
    assert page.locator(".result-body").is_hidden()
