"""The dashboard's cold start in a real browser, added to a benchmark report.

    python tools/bench_app.py --bench model_weights/bench.json

Starts the dashboard as ``./run app`` does (``streamlit run serve.py``, read from the ``run``
script; see :func:`served_script`) with a headless Chromium already running, driven by Playwright, opens the Classify page, picks the bench's bundled sample as a user would and
stops the clock when the page shows the image's call (``ALL|HEM (mean cell P(ALL) 0.xx ...``).
The figures replace the ``app`` entry of the report written by ``python -m leukemia_core bench``
and the targets are recomputed (:func:`leukemia_core.bench.finalize`). Models the report lists
without shipped weights are served with random weights from a temporary folder.

This lives outside the ``leukemia_core`` package on purpose: the core library never starts the app.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from leukemia_core.bench import finalize  # noqa: E402
from leukemia_core.bench.loading import BENCH_IMAGE, weights_for_children  # noqa: E402
from leukemia_core.paths import weights_dir_label, weights_dir_or_default  # noqa: E402
from leukemia_core.timing import rnd

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

#: JavaScript test for a rendered call: the Classify page's summary line, e.g.
#: "proposed: image ALL (mean cell P(ALL) 0.87, threshold 0.50)"; the older whole-image verdict
#: "ALL (P(ALL) = 0.873, model proposed)" also counts.
PREDICTION_JS = r"""() => {
  const t = document.body ? document.body.innerText : "";
  return /\b(ALL|HEM)\b \(mean cell P\(ALL\) [01]\.\d+/.test(t)
      || /\b(ALL|HEM)\b[^\n]{0,8}\(?P\(ALL\) = [01]\.\d+/.test(t);
}"""

#: JavaScript test for the first map: the Classify gallery's caption under a cell crop with its map.
MAP_JS = r"""() => {
  const t = document.body ? document.body.innerText : "";
  return /\b(cell \d+|whole image): (ALL|HEM) [01]\.\d\d/.test(t) && !/maps are still loading/.test(t);
}"""


def served_script(project_root: Path = PROJECT_ROOT) -> str:
    """The script ``./run app`` serves (``streamlit run SCRIPT`` in the ``run`` file), so that the
    benchmark starts exactly what the README's command starts; ``app.py`` without a ``run`` file."""
    run = project_root / "run"
    if run.is_file():
        found = re.search(r"^\s*exec \S*streamlit run (\S+)", run.read_text(), re.M)
        if found:
            return found.group(1)
    return "app.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, deadline: float, proc: subprocess.Popen) -> bool:
    import urllib.request

    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def streamlit_cmd(script: Path, port: int) -> list[str]:
    """The command that serves ``script`` as ``./run app`` serves the app (headless, one port)."""
    return [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless=true",
            f"--server.port={port}", "--server.address=127.0.0.1", "--browser.gatherUsageStats=false",
            "--server.fileWatcherType=none"]


#: The baseline page: Streamlit's own start-up and first render, with nothing of the project.
BARE_PAGE = 'import streamlit as st\n\nst.title("Bare page")\nst.write("bare page ready")\n'


def browser_missing() -> str:
    """Why no browser can be driven here (no Chromium, no Playwright); ``""`` when one can."""
    if not Path(CHROMIUM).is_file():
        return f"browser absent: {CHROMIUM} not found (Debian package chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright not installed"
    return ""


def stop_server(proc: subprocess.Popen | None) -> None:
    """Stop a server this module started (terminate, then kill after 10 s)."""
    if proc is None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def measure_bare_page(timeout: float = 60.0) -> dict:
    """Seconds from spawning ``streamlit run`` on a one-line page (:data:`BARE_PAGE`), started as
    the app is, to its text in the same headless browser: the floor any Streamlit app starts from.
    Returns ``bare_page_s`` None with ``reason`` when the browser or the server is missing or fails."""
    out: dict = {"bare_page_s": None}
    if browser_missing():
        out["reason"] = browser_missing()
        return out
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    port = free_port()
    env = dict(os.environ, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    proc = None
    with tempfile.TemporaryDirectory(prefix="bare-page-") as tmp:
        script = Path(tmp) / "bare.py"
        script.write_text(BARE_PAGE)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                t0 = time.perf_counter()
                proc = subprocess.Popen(streamlit_cmd(script, port), cwd=tmp, env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
                if not wait_http(f"http://127.0.0.1:{port}/_stcore/health", t0 + timeout, proc):
                    out["reason"] = "the bare Streamlit server did not come up"
                    return out
                page.goto(f"http://127.0.0.1:{port}/", wait_until="domcontentloaded")
                page.get_by_text("bare page ready").wait_for(timeout=timeout * 1000)
                out["bare_page_s"] = rnd(time.perf_counter() - t0, 2)
                browser.close()
        except PlaywrightError as exc:
            out["reason"] = f"browser error: {str(exc).splitlines()[0]}"
        finally:
            stop_server(proc)
    return out


def with_baseline(app: dict, bare: dict) -> dict:
    """``app`` with the bare page's figure and the app's ratios to it (None where either is missing)."""
    out = dict(app, bare_page_s=bare.get("bare_page_s"))
    if bare.get("reason"):
        out["bare_page_reason"] = bare["reason"]
    base = bare.get("bare_page_s")
    for key in ("cold_start_s", "first_map_s"):
        v = app.get(key)
        out[key.removesuffix("_s") + "_ratio"] = rnd(v / base, 2) if v is not None and base else None
    return out


def measure_cold_start(weights_dir: Path, timeout: float = 120.0, page_path: str = "",
                       app_models: Sequence[str] | None = None, project_root: Path = PROJECT_ROOT) -> dict:
    """Seconds from starting the server as ``./run app`` does to the first call rendered in a real browser.

    The browser is started first (its start-up is not the app's); the clock starts when the
    Streamlit process is spawned. Returns ``cold_start_s`` None with ``reason`` when the app,
    Playwright or Chromium is missing, or no call appeared within ``timeout``. ``app_models``
    restricts the models the app offers (``$LEUKEMIA_APP_MODELS``). The browser opens the server's
    root URL, the address ``./run app`` prints (its default page is Classify): on a freshly started
    server, Streamlit runs a page URL such as ``/classify`` once without ``app.py`` (the folder
    ``pages/`` makes the first run an old-style multipage run), so that URL is not what users meet.
    """
    out: dict = {"cold_start_s": None, "method": "playwright+chromium (headless)", "script": served_script(project_root),
                 "measures": f"clock starts when `streamlit run {served_script(project_root)}` (what `./run app` "
                             "starts) is spawned (browser already running) and "
                             "stops when the Classify page shows the image's call 'ALL|HEM (mean cell P(ALL) "
                             f"0.xx ...' for the bundled sample {BENCH_IMAGE.split('/')[-1]}, picked as soon as "
                             "the picker appears",
                 "weights_dir": weights_dir_label(weights_dir)}
    app = project_root / "app.py"
    if not app.is_file():
        out["reason"] = "app.py not found"
        return out
    script = project_root / served_script(project_root)
    if not script.is_file():
        out["reason"] = f"{script.name} (started by ./run app) not found"
        return out
    if browser_missing():
        out["reason"] = browser_missing()
        return out
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, LEUKEMIA_WEIGHTS_DIR=str(weights_dir), TF_CPP_MIN_LOG_LEVEL="2",
               STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    env.pop("LEUKEMIA_APP_MODELS", None)
    if app_models:
        env["LEUKEMIA_APP_MODELS"] = ",".join(app_models)
        out["app_models"] = list(app_models)
    cmd = streamlit_cmd(script, port)
    log_file = tempfile.NamedTemporaryFile("w+", suffix=".streamlit.log", delete=False)
    proc = None
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, cwd=project_root, env=env, stdout=log_file, stderr=subprocess.STDOUT)
            deadline = t0 + timeout
            if not wait_http(f"{url}/_stcore/health", deadline, proc):
                out["reason"] = "the Streamlit server did not come up (see its log: " + log_file.name + ")"
                return out
            out["server_ready_s"] = rnd(time.perf_counter() - t0, 2)
            page.goto(f"{url}/{page_path}", wait_until="domcontentloaded")
            out["page_loaded_s"] = rnd(time.perf_counter() - t0, 2)
            steps = drive_classify_page(page, deadline, t0, out)
            try:
                page.wait_for_function(PREDICTION_JS, timeout=max(1000.0, (deadline - time.perf_counter()) * 1000),
                                       polling=50)
            except PlaywrightError:
                out["reason"] = (f"no call rendered within {timeout:.0f} s; page text starts: "
                                 + page.inner_text("body")[:300].replace("\n", " | "))
                return out
            out["cold_start_s"] = rnd(time.perf_counter() - t0, 2)
            out["interaction"] = steps
            try:  # the cell gallery (its maps) may come after the call when calls run on ONNX Runtime
                page.wait_for_function(MAP_JS, timeout=max(1000.0, (deadline - time.perf_counter()) * 1000),
                                       polling=50)
                out["first_map_s"] = rnd(time.perf_counter() - t0, 2)
            except PlaywrightError:
                out["first_map_s"] = None
            browser.close()
    except PlaywrightError as exc:
        out["reason"] = f"browser error: {str(exc).splitlines()[0]}"
    finally:
        stop_server(proc)
        log_file.close()
    return out


def drive_classify_page(page, deadline: float, t0: float, out: dict) -> list[str]:
    """Pick the bench's bundled sample on the Classify page, as a user would.

    Opens the page's sample picker (a multiselect) and clicks the sample's entry; where there is
    no such picker, uploads the file instead. Returns the steps taken and records in ``out`` when
    the picker appeared (``picker_ready_s``) and when the sample was chosen (``sample_chosen_s``).
    """
    from playwright.sync_api import Error as PlaywrightError

    from leukemia_core.samples import SAMPLES_DIR

    path = SAMPLES_DIR / BENCH_IMAGE

    def left_ms() -> float:
        return max(1000.0, (deadline - time.perf_counter()) * 1000)

    picker = page.locator('[data-testid="stMultiSelect"]').filter(has_text="sample").first
    upload = page.locator('input[type="file"]').first
    try:
        picker.or_(upload).first.wait_for(state="attached", timeout=left_ms())
    except PlaywrightError:
        return ["no sample picker or upload field appeared"]
    try:
        picker.wait_for(state="visible", timeout=2000)
    except PlaywrightError:
        pass
    out["picker_ready_s"] = rnd(time.perf_counter() - t0, 2)
    if picker.count():
        try:
            picker.locator("input").first.click(timeout=left_ms())
            page.get_by_role("option", name=path.name, exact=False).first.click(timeout=min(left_ms(), 15000))
            out["sample_chosen_s"] = rnd(time.perf_counter() - t0, 2)
            return [f"picked the bundled sample {path.name} in the sample picker"]
        except PlaywrightError:
            pass
    upload.set_input_files(str(path), timeout=left_ms())
    out["sample_chosen_s"] = rnd(time.perf_counter() - t0, 2)
    return [f"uploaded the bundled sample {path.name}"]


def add_app_figures(report: dict, app: dict) -> dict:
    """Put ``app`` into ``report`` and recompute the targets and their explanations."""
    report["app"] = app
    return finalize(report)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bench", required=True, help="the report of `python -m leukemia_core bench` (updated in place)")
    p.add_argument("--weights-dir", help="shipped weights (default: $LEUKEMIA_WEIGHTS_DIR or model_weights/)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the first call")
    args = p.parse_args(argv)

    from leukemia_core.models import list_models
    from leukemia_core.jsonio import write_json

    path = Path(args.bench)
    if not path.is_file():
        print(f"error: {path} not found; run `python -m leukemia_core bench --out {path}` first", file=sys.stderr)
        return 2
    report = json.loads(path.read_text())
    names = report["settings"]["models"]
    wdir = weights_dir_or_default(args.weights_dir)
    with tempfile.TemporaryDirectory(prefix="leukemia-bench-app-") as tmp:
        child_wdir = weights_for_children(names, wdir, Path(tmp))
        offered = None if set(names) >= set(list_models()) else names
        try:
            bare = measure_bare_page(args.timeout)  # the baseline, in the same run, before the app
            app = with_baseline(measure_cold_start(child_wdir, args.timeout, app_models=offered), bare)
        except Exception as exc:  # a broken app or browser leaves a reason, never a lost report
            app = {"cold_start_s": None, "reason": f"failed: {type(exc).__name__}: {exc}"}
        if child_wdir != wdir:
            app["weights_note"] = "models without shipped weights served with random weights"
    add_app_figures(report, app)
    write_json(path, report)
    print("app cold start to first call: " + (f"{app['cold_start_s']:.1f} s ({app['method']})"
                                              if app.get("cold_start_s") is not None else f"n/a ({app.get('reason')})"))
    print(f"bare Streamlit page: {app.get('bare_page_s')} s; ratios: call {app.get('cold_start_ratio')}, "
          f"first map {app.get('first_map_ratio')}")
    print(f"-> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
