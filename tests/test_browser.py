"""End to end in a real browser: the app served by ``streamlit run``, driven by headless Chromium.

Every request the page makes is recorded; any to a host other than localhost fails the test (the
dashboard must work offline and send nothing about its users or images elsewhere).

Screenshots of every page go to ``$LEUKEMIA_SCREENSHOTS`` when set (else a temporary folder). With
``$LEUKEMIA_SCREENSHOT_WEIGHTS`` set, the app serves that weights folder (the shipped models) instead
of the tiny test model; that is how the README's screenshots are taken.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from app_fixtures import APP, ROOT, app_weights  # noqa: F401  (fixture)

from leukemia_core.samples import list_samples

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
START_TIMEOUT_S = 120
WAIT_MS = 120_000
#: the model the app shows first: the tiny test model, or the shipped default for README screenshots
MODEL = "proposed" if os.environ.get("LEUKEMIA_SCREENSHOT_WEIGHTS") else "tiny_cnn"
#: hosts the page may contact: the app itself
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen) -> None:
    """Stop a server process: terminate, and kill it when it does not end within 20 s."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.time() + START_TIMEOUT_S
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"streamlit did not answer within {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def server(app_weights, tmp_path):
    """``streamlit run app.py`` on a free port with the tiny model; always stopped afterwards."""
    yield from _serve(app_weights, tmp_path, APP)


@pytest.fixture
def fresh_server(app_weights, tmp_path):
    """``streamlit run serve.py`` (what ``./run app`` starts) on a free port, no page opened yet."""
    yield from _serve(app_weights, tmp_path, ROOT / "serve.py")


def _serve(app_weights, tmp_path, script: Path):
    port = _free_port()
    env = dict(os.environ, LEUKEMIA_WEIGHTS_DIR=str(app_weights["weights_dir"]), LEUKEMIA_APP_MODELS="tiny_cnn",
               TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    env.pop("LEUKEMIA_DATA", None)
    if os.environ.get("LEUKEMIA_SCREENSHOT_WEIGHTS"):
        # README screenshots: the shipped models (and the data folder, for the gallery)
        env["LEUKEMIA_WEIGHTS_DIR"] = os.environ["LEUKEMIA_SCREENSHOT_WEIGHTS"]
        env.pop("LEUKEMIA_APP_MODELS")
        if os.environ.get("LEUKEMIA_DATA"):
            env["LEUKEMIA_DATA"] = os.environ["LEUKEMIA_DATA"]
    log = tmp_path / "streamlit.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
                                 "--server.port", str(port), "--server.address", "127.0.0.1"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc, log)
        yield url
    finally:
        stop(proc)


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("LEUKEMIA_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _idle(page) -> None:
    """Wait until the script run ends (the running indicator is gone) and the page settles."""
    page.wait_for_timeout(500)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=WAIT_MS)
    page.wait_for_timeout(500)


def _shot(page, path: Path) -> None:
    """Screenshot of the whole page: the app scrolls inside its main area, so grow the window to fit."""
    height = page.evaluate("() => Math.max(...[...document.querySelectorAll('[data-testid=\"stMain\"], "
                           "[data-testid=\"stAppViewContainer\"]')].map(e => e.scrollHeight), 1000)")
    page.set_viewport_size({"width": 1400, "height": min(int(height) + 40, 8000)})
    page.wait_for_timeout(800)  # charts re-layout to the new size
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})


def _go(page, title: str, header: str) -> None:
    page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
    page.get_by_role("heading", name=header).wait_for(timeout=WAIT_MS)
    _idle(page)


def _outside(urls: list[str]) -> list[str]:
    """The URLs whose host is not this machine (``data:`` and ``blob:`` URLs stay in the page)."""
    out = []
    for url in urls:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme in ("data", "blob", "about"):
            continue
        if parts.hostname not in LOCAL_HOSTS:
            out.append(url)
    return out


def test_outside_filter():
    assert _outside(["http://127.0.0.1:8501/x", "ws://localhost:1/_stcore/stream", "data:image/png;base64,AA",
                     "blob:http://127.0.0.1:8501/abc"]) == []
    assert _outside(["https://fonts.gstatic.com/s/i/x.svg", "http://127.0.0.1.evil.com/"]) == [
        "https://fonts.gstatic.com/s/i/x.svg", "http://127.0.0.1.evil.com/"]


def test_browser_end_to_end(server, shots):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    sample = next(s for s in list_samples() if s.path.name == "WBC-Malignant-Pro-660.jpg")  # an Aria field
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            page.on("websocket", lambda ws: requests.append(ws.url))
            page.goto(server + "/")
            page.get_by_role("heading", name="Classify cells").wait_for(timeout=WAIT_MS)
            assert page.get_by_text("Not a diagnostic device").first.is_visible()
            page.locator('input[type="file"]').set_input_files(str(sample.path))
            verdict = page.get_by_text(re.compile(r"image (ALL|HEM|NO CALL)(?: \([^)]*\))? "
                                                 r"\(mean cell P\(ALL\) [01]\.\d{2}, image threshold"))
            verdict.wait_for(timeout=WAIT_MS)
            _idle(page)
            assert re.search(r"\d+ white cell\(s\) found", verdict.inner_text())
            n_cells = int(re.search(r"(\d+) white cell", verdict.inner_text()).group(1))
            assert n_cells >= 2  # a smear field holds several white cells
            page.get_by_text("Found white cells, numbered").wait_for(timeout=WAIT_MS)
            images = page.locator('[data-testid="stImage"] img')
            # outlined field, original, one crop per cell, the colour bar
            assert images.count() == 2 + n_cells + 1
            assert all(images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0")
                       for i in range(images.count()))
            assert page.get_by_text("cell 1:").first.is_visible()
            names = page.get_by_text(sample.path.name, exact=True)
            for _ in range(120):  # the gallery's caption can render after the verdict on a busy machine
                if any(names.nth(i).is_visible() for i in range(names.count())):
                    break
                page.wait_for_timeout(500)
            assert any(names.nth(i).is_visible() for i in range(names.count()))
            _shot(page, shots / "classify.png")

            page.get_by_text("Prepare case report").click()
            page.get_by_text("Download case report").wait_for(timeout=WAIT_MS)
            with page.expect_download() as download:
                page.get_by_text("Download case report").click()
            report = Path(download.value.path()).read_text()
            assert "Not a diagnostic device" in report and sample.path.name in report
            assert "http://" not in report and "https://" not in report
            report_page = browser.new_page(viewport={"width": 1000, "height": 1300})
            report_page.set_content(report)
            report_page.screenshot(path=str(shots / "case_report.png"))
            report_page.close()

            _go(page, "Model comparison", "Model comparison")
            page.locator(".js-plotly-plot").first.wait_for(timeout=WAIT_MS)
            assert page.locator(".js-plotly-plot").count() >= 4
            _shot(page, shots / "comparison.png")

            _go(page, "Validation", "Validation")
            page.locator(".js-plotly-plot").first.wait_for(timeout=WAIT_MS)
            page.get_by_text("Misclassified images").wait_for(timeout=WAIT_MS)
            _shot(page, shots / "validation.png")

            _go(page, "About / model card", "About this tool and its models")
            assert page.get_by_text("CC BY 3.0").first.is_visible()
            _shot(page, shots / "about.png")
            page.wait_for_timeout(1000)  # late requests (favicon, fonts) are recorded too
            # Chromium does not report its favicon fetch as a page request: read what the page links to
            requests += page.evaluate("() => [...document.querySelectorAll('link[href]')].map(e => e.href)"
                                      ".concat([...document.querySelectorAll('[src]')].map(e => e.src))")
        finally:
            browser.close()
    for name in ("classify", "case_report", "comparison", "validation", "about"):
        assert (shots / f"{name}.png").stat().st_size > 10_000
    assert any(u.startswith(server) for u in requests)  # the recording works
    assert _outside(requests) == [], "requests that left the machine"


def test_a_bookmarked_page_on_a_fresh_server_shows_the_whole_app(fresh_server):
    """The first request of a fresh server is /validation: the app's frame, its sidebar controls and
    the six pages by their titles, never the pages/ folder's file list."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(fresh_server + "/validation")
            page.get_by_role("heading", name="Validation").wait_for(timeout=WAIT_MS)
            _idle(page)
            assert page.get_by_role("heading", name="ALL / HEM cell classifier").is_visible()
            nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
            for title in ("Classify", "Model comparison", "Validation", "Cases", "Verify at your lab",
                          "About / model card"):
                assert title in nav
            assert "streamlit fixes" not in nav and "loaders" not in nav
            assert page.locator('[data-testid="stSidebar"]').get_by_text("Model", exact=True).first.is_visible()
        finally:
            browser.close()
