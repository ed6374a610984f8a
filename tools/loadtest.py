"""Load test of the dashboard: several browser sessions at once, each checked for its own results.

    python tools/loadtest.py --sessions 1 8 --duration 180 --out model_weights/loadtest.json

For each number of sessions it starts what ``./run app`` serves (``streamlit run serve.py``) (headless, free port, the shipped
models), opens that many Playwright browser contexts in one headless Chromium (one Streamlit session
each) and drives them concurrently for ``--duration`` seconds. Every session loops over:

1. remove its previous uploads, upload its next pair of images (a C-NMC single-cell crop and an
   Aria smear field; no image is given to two sessions) and time the upload to the rendered call;
2. switch the sidebar model to the next one (session k's first switch skips k models, so that the
   sessions use different models from the start) and time the switch to the rendered calls;
3. move the decision threshold (the toggle "Each model's validated threshold" off, the slider moved
   with the keyboard (arrow keys); every third round the toggle back on) and time it to the re-labelled calls.

After every step the page is read: each image's name and its summary line
``MODEL: image CALL (mean cell P(ALL) p, image threshold t, cell threshold c)`` must name exactly
this session's current files with the selected model, and p, the call and both thresholds must equal
what the core computes for that file and model (``pages._cells.read_cells`` with the predictor and
Grad-CAM explainer the page uses, computed before the server starts). A name from another session
counts as a cross-session mismatch; any exception or error box counts as an error; a step with no
result within ``--timeout`` seconds is a failure, with a screenshot and the page's text kept under
/tmp. The server's RSS (the Streamlit process and its children, from /proc) is sampled every second.

Writes JSON (machine, settings, command line, and per configuration: uploads attempted/completed,
p50/p95/max time to result, errors, mismatches, RSS series and RSS at warm-up end against the end).
``python -m leukemia_core table --readme docs/results.md`` turns it into docs/results.md's "Reliability under
load" block. This lives outside the ``leukemia_core`` package on purpose: the core never starts the app.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_app import served_script  # noqa: E402  (the same rule as the cold-start benchmark)
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-renderer-backgrounding", "--disable-background-timer-throttling",
                 "--disable-backgrounding-occluded-windows"]
SHOTS = Path(tempfile.gettempdir()) / "leukemia-loadtest"
TOGGLE = "Each model's validated threshold"
SUMMARY_RE = re.compile(r"^(\S+): image (ALL|HEM) \(mean cell P\(ALL\) ([01]\.\d+), image threshold ([01]\.\d+), "
                        r"cell threshold ([01]\.\d+)\)(?:; (\d+) white cell)?")

#: Page state as the script reads it: the markdown of every element not marked stale (in order),
#: error elements, alerts, and whether a script run is in progress.
READ_JS = r"""() => {
  const main = document.querySelector('[data-testid="stMain"]') || document.body;
  const md = [];
  for (const el of main.querySelectorAll('[data-testid="stElementContainer"]')) {
    if (el.getAttribute('data-stale') === 'true') continue;
    const m = el.querySelector('[data-testid="stMarkdownContainer"]');
    if (m && !el.querySelector('[data-testid="stElementContainer"]')) md.push(m.innerText.trim());
  }
  const exc = [...document.querySelectorAll('[data-testid="stException"]')].map(e => e.innerText.slice(0, 400));
  const alerts = [...main.querySelectorAll('[data-testid="stAlert"]')].map(e => e.innerText.slice(0, 300));
  return {md, exc, alerts, running: !!document.querySelector('[data-testid="stStatusWidget"]')};
}"""

#: True when every expected image shows a (non-stale) summary line of ``model`` at cell threshold ``thr``.
DONE_JS = r"""([names, model, thr]) => {
  const main = document.querySelector('[data-testid="stMain"]') || document.body;
  const re = /^(\S+): image (ALL|HEM) \(mean cell P\(ALL\) [01]\.\d+, image threshold [01]\.\d+, cell threshold ([01]\.\d+)\)/;
  let cur = null; const seen = new Set();
  for (const el of main.querySelectorAll('[data-testid="stElementContainer"]')) {
    if (el.getAttribute('data-stale') === 'true') continue;
    const m = el.querySelector('[data-testid="stMarkdownContainer"]');
    if (!m) continue;
    const t = m.innerText.trim();
    if (names.includes(t)) { cur = t; continue; }
    const s = t.match(re);
    if (s && cur && s[1] === model && s[3] === thr) seen.add(cur);
  }
  return names.every(n => seen.has(n));
}"""

IDLE_JS = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"


# ---------------------------------------------------------------------------------------------
# images and the values the core computes for them


def image_plan(n_sessions: int, pairs: int, data_dir: Path | None) -> list[list[tuple[Path, Path]]]:
    """Per session, ``pairs`` (C-NMC crop, Aria field) pairs; no file is given to two sessions.

    Files come from ``data_dir`` (``cnmc2019/training_data``, ``aria_all/Original``) when present,
    spread over classes and folders; else from the bundled samples (then sessions share files)."""
    cnmc, aria = [], []
    if data_dir and (data_dir / "cnmc2019").is_dir():
        cnmc = sorted((data_dir / "cnmc2019" / "training_data").rglob("*.bmp"))
        aria = sorted((data_dir / "aria_all" / "Original").rglob("*.jpg"))
    need = n_sessions * pairs
    if len(cnmc) < need or len(aria) < need:
        from leukemia_core.samples import list_samples

        samples = [s.path for s in list_samples()]
        cnmc = [p for p in samples if p.name.startswith("UID_")]
        aria = [p for p in samples if not p.name.startswith("UID_")]

    def spread(files: list[Path]) -> list[Path]:
        step = max(1, len(files) // need) if len(files) >= need else 1
        return [files[(i * step) % len(files)] for i in range(need)]

    c, a = spread(cnmc), spread(aria)
    return [[(c[s * pairs + k], a[s * pairs + k]) for k in range(pairs)] for s in range(n_sessions)]


def expected_values(files: list[Path], models: list[str], wdir: Path) -> dict:
    """``{(file name, model): {"p": image mean P(ALL), "n": cells (0 = whole image)}}`` as the Classify
    page computes them (cached under /tmp by file content and weights)."""
    from leukemia_core.models.weights import read_manifest

    shas = {m: read_manifest(m, wdir)["weights_sha256"] for m in models}
    key = hashlib.sha256(json.dumps([sorted(str(f) for f in files), shas], sort_keys=True).encode()).hexdigest()[:16]
    cache = SHOTS / f"expected-{key}.json"
    if cache.is_file():
        raw = json.loads(cache.read_text())
        return {tuple(k.split("\t")): v for k, v in raw.items()}
    from leukemia_core.explain import create_explainer
    from leukemia_core.inference import Predictor, load_model
    from leukemia_core.reports.inputs import ImageInput, decode
    from pages._cells import read_cells

    out = {}
    for m in models:
        loaded = load_model(m, wdir)
        pred, expl = Predictor(loaded), create_explainer(loaded.model, loaded.cam_layer, "gradcam")
        for f in files:
            rgb, err = decode(ImageInput(f.name, f.read_bytes()))
            if err:
                raise RuntimeError(f"{f}: {err}")
            res = read_cells(rgb, pred, expl)
            out[(f.name, m)] = {"p": res.image_p(), "n": 0 if res.whole_image else len(res.cells)}
    SHOTS.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({f"{k[0]}\t{k[1]}": v for k, v in out.items()}))
    return out


def tf_concurrency(name: str, files: list[Path], wdir: Path, threads: int = 8, timeout: float = 300.0) -> dict:
    """Is one shared model safe to call from several threads at once (as the app's sessions do)?

    ``threads`` threads read the same images with one predictor and one Grad-CAM explainer built
    for the purpose and not yet compiled, all starting together (so the first calls trace the
    compiled functions concurrently); their results are compared with a serial reading by other
    instances, and the wall time with the same work done serially on the shared instances."""
    import concurrent.futures as cf

    import numpy as np

    from leukemia_core.explain import create_explainer
    from leukemia_core.inference import Predictor, load_model
    from leukemia_core.reports.inputs import ImageInput, decode
    from pages._cells import read_cells

    loaded = load_model(name, wdir)
    rgbs = [decode(ImageInput(f.name, f.read_bytes()))[0] for f in files]
    ref_tools = Predictor(loaded), create_explainer(loaded.model, loaded.cam_layer, "gradcam")
    ref = [read_cells(r, *ref_tools) for r in rgbs]
    shared = Predictor(loaded), create_explainer(loaded.model, loaded.cam_layer, "gradcam")
    barrier = threading.Barrier(threads)

    def work(k: int):
        barrier.wait()
        order = rgbs[k % len(rgbs):] + rgbs[:k % len(rgbs)]
        res = [read_cells(r, *shared) for r in order]
        return res[len(rgbs) - k % len(rgbs):] + res[:len(rgbs) - k % len(rgbs)]

    out = {"model": name, "threads": threads, "images_per_thread": len(rgbs), "exceptions": [], "finished": True}
    t0 = time.perf_counter()
    pool = cf.ThreadPoolExecutor(threads)
    futures = [pool.submit(work, k) for k in range(threads)]
    _, pending = cf.wait(futures, timeout=timeout)
    out["concurrent_cold_s"] = round(time.perf_counter() - t0, 2)
    if pending:
        out["finished"] = False  # a deadlock: the threads are left behind (daemon pool)
        return out
    dp = dm = 0.0
    for f in futures:
        if f.exception() is not None:
            out["exceptions"].append(repr(f.exception())[:300])
            continue
        for a, b in zip(f.result(), ref):
            dp = max(dp, float(np.abs(a.p_all - b.p_all).max(initial=0)))
            dm = max(dm, float(np.abs(a.maps_all.astype(np.float32) - b.maps_all).max(initial=0)),
                     float(np.abs(a.maps_hem.astype(np.float32) - b.maps_hem).max(initial=0)))
    out["max_abs_diff_p_all"], out["max_abs_diff_maps"] = dp, dm
    t0 = time.perf_counter()
    futures = [pool.submit(work, k) for k in range(threads)]
    cf.wait(futures)
    out["concurrent_warm_s"] = round(time.perf_counter() - t0, 2)
    t0 = time.perf_counter()
    for _ in range(threads):
        [read_cells(r, *shared) for r in rgbs]
    out["serial_warm_s"] = round(time.perf_counter() - t0, 2)
    pool.shutdown()
    return out


# ---------------------------------------------------------------------------------------------
# the server and its memory


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_rss_mib(pid: int) -> float:
    """RSS of ``pid`` and all its descendants (MiB), from /proc."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(d))
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


class RssSampler(threading.Thread):
    def __init__(self, pid: int, t0: float, every: float = 1.0):
        super().__init__(daemon=True, name="rss-sampler")
        self.pid, self.t0, self.every = pid, t0, every
        self.series: list[list[float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.series.append([round(time.perf_counter() - self.t0, 1), round(tree_rss_mib(self.pid), 1)])
            self.stop.wait(self.every)


@dataclass
class Server:
    proc: subprocess.Popen
    url: str
    log: Path
    t0: float


def start_server(wdir: Path, models: list[str], timeout: float = 120.0, app_root: Path = PROJECT_ROOT) -> Server:
    port = free_port()
    env = dict(os.environ, LEUKEMIA_WEIGHTS_DIR=str(wdir), LEUKEMIA_APP_MODELS=",".join(models),
               TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1", STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    SHOTS.mkdir(parents=True, exist_ok=True)
    log = SHOTS / f"streamlit-{port}.log"
    # what `./run app` serves (serve.py: app.py with the warm-up at server start), else app.py
    script = served_script(app_root) if (app_root / "run").is_file() else "app.py"
    cmd = [sys.executable, "-m", "streamlit", "run", script, "--server.headless=true", f"--server.port={port}",
           "--server.address=127.0.0.1", "--browser.gatherUsageStats=false", "--server.fileWatcherType=none"]
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=app_root, env=env, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}; log: {log}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                if r.status == 200:
                    return Server(proc, url, log, t0)
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"streamlit did not answer within {timeout:.0f} s; log: {log}")


def stop_server(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(20)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(10)


# ---------------------------------------------------------------------------------------------
# one browser session


@dataclass
class Run:
    """What one configuration collects."""

    t0: float
    expected: dict
    calibrations: dict
    owners: dict                      # file name -> session index
    timeout: float
    tag: str
    events: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    mismatches: list[dict] = field(default_factory=list)
    warnings: set = field(default_factory=set)
    first_round_done: dict = field(default_factory=dict)   # session -> seconds
    model_first_seen: dict = field(default_factory=dict)   # model -> seconds
    console: list[dict] = field(default_factory=list)      # browser console errors

    def now(self) -> float:
        return round(time.perf_counter() - self.t0, 2)


def check_page(run: Run, sid: int, state: dict, names: list[str], model: str, thr: float) -> list[dict]:
    """Compare what the page shows with this session's files and the core's values."""
    md, problems = state["md"], []
    shown, cur = {}, None
    all_names = set(run.owners)
    for t in md:
        if t in all_names:
            cur = t
            shown.setdefault(cur, [])
            continue
        s = SUMMARY_RE.match(t)
        if s and cur is not None:
            shown[cur].append(s.groups())
    for name in shown:
        if name not in names:
            owner = run.owners.get(name)
            problems.append({"kind": "cross-session" if owner != sid else "stale file", "file": name,
                             "owner": owner})
    cal = run.calibrations[model]
    for name in names:
        lines = shown.get(name)
        if not lines:
            problems.append({"kind": "missing", "file": name})
            continue
        exp = run.expected[(name, model)]
        for m, call, p, ithr, cthr, ncells in lines:
            want_ithr = cal.image_threshold(thr, exp["n"])
            want_call = "ALL" if exp["p"] >= want_ithr else "HEM"
            bad = []
            if m != model:
                bad.append(f"model {m} shown, {model} selected")
            if abs(float(p) - exp["p"]) > 0.0051:
                bad.append(f"P(ALL) {p} shown, core {exp['p']:.4f}")
            if abs(float(cthr) - thr) > 0.0051:
                bad.append(f"cell threshold {cthr} shown, {thr:.2f} set")
            if abs(float(ithr) - want_ithr) > 0.0051:
                bad.append(f"image threshold {ithr} shown, core {want_ithr:.2f}")
            if call != want_call and abs(exp["p"] - want_ithr) > 1e-4:
                bad.append(f"call {call} shown, core {want_call}")
            if ncells is not None and int(ncells) != exp["n"]:
                bad.append(f"{ncells} cells shown, core {exp['n']}")
            if bad:
                problems.append({"kind": "wrong value", "file": name, "model": model, "detail": "; ".join(bad)})
    return problems


async def read_state(page) -> dict:
    return await page.evaluate(READ_JS)


async def wait_idle(page, timeout_ms: float) -> None:
    await page.wait_for_timeout(150)
    await page.wait_for_function(IDLE_JS, timeout=timeout_ms, polling=100)


async def record_failure(run: Run, sid: int, page, step: str, exc: Exception) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / f"{run.tag}-s{sid}-{len(run.errors)}-{step}.png"
    text, running, shown = "", None, []
    try:
        await page.screenshot(path=str(shot), full_page=True, timeout=20_000)
        st = await read_state(page)
        text = " | ".join(st["md"])[-800:]
        running, shown = st["running"], st["exc"] + st["alerts"]
    except Exception:  # noqa: BLE001 - the page may be gone
        shot = None
    run.errors.append({"t": run.now(), "session": sid, "step": step, "kind": "timeout" if "Timeout" in
                       type(exc).__name__ else type(exc).__name__, "message": str(exc).splitlines()[0][:300],
                       "screenshot": str(shot) if shot else None, "page_text": text, "script_running": running,
                       "exceptions_and_alerts": shown})


async def session(run: Run, sid: int, browser, url: str, plan: list[tuple[Path, Path]], models: list[str],
                  deadline: float, start_delay: float) -> None:
    from playwright.async_api import Error as PWError

    await asyncio.sleep(start_delay)
    tmo = run.timeout * 1000
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await ctx.new_page()
    page.on("console", lambda m: m.type == "error" and run.console.append(
        {"t": run.now(), "session": sid, "text": m.text[:300]}))

    async def open_page() -> dict:
        await page.goto(f"{url}/", wait_until="domcontentloaded", timeout=tmo)
        await page.get_by_role("heading", name="Classify cells").wait_for(timeout=tmo)
        await wait_idle(page, tmo)
        return {"model": models[0], "own": True, "thr": None, "files": []}

    try:
        st = await open_page()
    except PWError as exc:
        await record_failure(run, sid, page, "open", exc)
        await ctx.close()
        return
    sidebar = page.locator('[data-testid="stSidebar"]')
    rnd = 0
    while time.perf_counter() < deadline:
        pair = plan[rnd % len(plan)]
        names = [p.name for p in pair]
        try:
            # 1. upload this round's pair (after removing the previous one)
            for _ in range(10):
                chips = page.locator('[data-testid="stFileChipDeleteBtn"]')
                if not await chips.count():
                    break
                await chips.first.click(timeout=tmo)
                await wait_idle(page, tmo)
            await step(run, sid, page, "upload", names, st, models, rnd,
                       lambda: page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
                           [str(p) for p in pair], timeout=tmo))  # noqa: B023 (awaited in this round)
            st["files"] = names
            if time.perf_counter() >= deadline:
                break
            # 2. the next model in the sidebar
            # (the first switch spreads the sessions over the models, so all are in use from the start)
            st["model"] = models[(models.index(st["model"]) + 1 + (sid if rnd == 0 else 0)) % len(models)]

            async def pick() -> None:
                await sidebar.locator('[data-testid="stSelectbox"]').first.click(timeout=tmo)
                await page.get_by_role("option", name=st["model"], exact=True).click(timeout=tmo)  # noqa: B023

            await step(run, sid, page, "model", names, st, models, rnd, pick)
            if time.perf_counter() >= deadline:
                break
            # 3. the threshold: own thresholds every third round, else the slider moved
            toggle = sidebar.locator("label", has_text=TOGGLE).locator("input").first
            st["own"] = await toggle.is_checked(timeout=tmo)
            if rnd % 3 == 2 and not st["own"]:
                st["own"] = True
                await step(run, sid, page, "threshold", names, st, models, rnd,
                           lambda: sidebar.get_by_text(TOGGLE).click(timeout=tmo))
            else:
                if st["own"]:
                    await sidebar.get_by_text(TOGGLE).click(timeout=tmo)
                    st["own"] = False
                    await wait_idle(page, tmo)
                thumb = sidebar.locator('[data-testid="stSlider"] input[type="range"]').first
                now = float(await thumb.input_value(timeout=tmo))
                target = [0.30, 0.45, 0.60, 0.40, 0.55, 0.35, 0.65][(rnd + sid) % 7]
                if abs(target - now) < 0.005:
                    target = round(now + 0.05, 2)
                st["thr"] = round(target, 2)

                async def slide() -> None:
                    await thumb.focus(timeout=tmo)  # noqa: B023 (awaited in this round)
                    key = "ArrowRight" if target > now else "ArrowLeft"  # noqa: B023
                    for _ in range(round(abs(target - now) / 0.01)):  # noqa: B023 (awaited in this round)
                        await page.keyboard.press(key)

                await step(run, sid, page, "threshold", names, st, models, rnd, slide,
                           actual=lambda: thumb.input_value(timeout=tmo))  # noqa: B023
        except PWError as exc:
            if not getattr(exc, "recorded", False):
                await record_failure(run, sid, page, "round", exc)
            try:
                st = await open_page()  # a fresh session, as a user would reload
            except PWError as exc2:
                await record_failure(run, sid, page, "reopen", exc2)
                break
        if sid not in run.first_round_done:
            run.first_round_done[sid] = run.now()
        rnd += 1
    await ctx.close()


async def step(run: Run, sid: int, page, kind: str, names: list[str], st: dict, models: list[str], rnd: int,
               action, actual=None) -> None:
    """Do ``action``, time it to the rendered calls, wait for the run to end and check the page."""
    from playwright.async_api import Error as PWError

    model = st["model"]
    fresh = (tuple(names), model) not in st.setdefault("seen", set())
    t_start = time.perf_counter()
    ev = {"session": sid, "round": rnd, "kind": kind, "t": run.now(), "model": model, "files": names,
          "fresh": fresh, "seconds": None, "ok": False}
    run.events.append(ev)
    await action()
    if actual is not None:  # the slider's value as it ended up
        await page.wait_for_timeout(50)
        st["thr"] = round(float(await actual()), 2)
    thr = run.calibrations[model].threshold if st["own"] else st["thr"]
    try:
        await page.wait_for_function(DONE_JS, arg=[names, model, f"{thr:.2f}"], timeout=run.timeout * 1000,
                                     polling=100)
    except PWError as exc:
        await record_failure(run, sid, page, kind, exc)
        exc.recorded = True  # counted once: the session's handler only reopens the page
        raise
    ev["seconds"] = round(time.perf_counter() - t_start, 3)
    ev["ok"] = True
    st["seen"].add((tuple(names), model))
    run.model_first_seen.setdefault(model, run.now())
    await wait_idle(page, run.timeout * 1000)
    ev["idle_s"] = round(time.perf_counter() - t_start, 3)
    state = await read_state(page)
    for e in state["exc"]:
        run.errors.append({"t": run.now(), "session": sid, "step": kind, "kind": "exception", "message": e})
    for a in state["alerts"]:
        if a.startswith(("error", "broken_image")) or "Traceback" in a:
            run.errors.append({"t": run.now(), "session": sid, "step": kind, "kind": "error box", "message": a})
        else:
            run.warnings.add(a[:200])
    for prob in check_page(run, sid, state, names, model, thr):
        run.mismatches.append({"t": run.now(), "session": sid, "step": kind, **prob})


# ---------------------------------------------------------------------------------------------
# one configuration


def pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return round(xs[lo] + (xs[hi] - xs[lo]) * (k - lo), 2)


def summarise_times(events: list[dict], kind: str) -> dict:
    evs = [e for e in events if e["kind"] == kind]
    secs = [e["seconds"] for e in evs if e["ok"]]
    fresh = [e["seconds"] for e in evs if e["ok"] and e["fresh"]]
    return {"attempted": len(evs), "completed": len(secs), "p50_s": pct(secs, 0.5), "p95_s": pct(secs, 0.95),
            "max_s": round(max(secs), 2) if secs else None, "fresh_completed": len(fresh),
            "fresh_p50_s": pct(fresh, 0.5), "fresh_p95_s": pct(fresh, 0.95)}


def run_config(n: int, args, models: list[str], plans, expected, calibrations, wdir: Path) -> dict:
    from playwright.async_api import async_playwright

    owners = {p.name: s for s, plan in enumerate(plans[:n]) for pair in plan for p in pair}
    server = start_server(wdir, models, app_root=Path(args.app_root))
    sampler = RssSampler(server.proc.pid, server.t0)
    sampler.start()
    run = Run(server.t0, expected, calibrations, owners, args.timeout, f"n{n}")
    started = run.now()

    async def main() -> None:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            deadline = time.perf_counter() + args.duration
            await asyncio.gather(*(session(run, s, browser, server.url, plans[s], models, deadline,
                                           s * args.stagger) for s in range(n)))
            await browser.close()

    try:
        asyncio.run(main())
    finally:
        ended = run.now()
        time.sleep(1.5)
        sampler.stop.set()
        sampler.join()
        stop_server(server)
    log = server.log.read_text(errors="replace")
    tracebacks = log.count("Traceback")
    series = sampler.series
    warm_t = max([*run.first_round_done.values(), *run.model_first_seen.values(), 0.0])
    in_load = [s for s in series if s[0] <= ended]
    after = [s for s in in_load if s[0] >= warm_t]
    rss_warm = after[0][1] if after else None
    rss_end = in_load[-1][1] if in_load else None
    slope = None
    if len(after) >= 10:
        ts, ys = [s[0] for s in after], [s[1] for s in after]
        mt, my = sum(ts) / len(ts), sum(ys) / len(ys)
        den = sum((t - mt) ** 2 for t in ts)
        slope = round(60 * sum((t - mt) * (y - my) for t, y in zip(ts, ys)) / den, 2) if den else None
    out = {
        "app": args.app_label or ("working tree" if Path(args.app_root).resolve() == PROJECT_ROOT else args.app_root),
        "sessions": n, "duration_s": args.duration, "load_start_s": started, "load_end_s": ended,
        "uploads": summarise_times(run.events, "upload"),
        "model_switches": summarise_times(run.events, "model"),
        "threshold_moves": summarise_times(run.events, "threshold"),
        "errors": len(run.errors), "error_list": run.errors[:50],
        "timeouts": sum(1 for e in run.errors if e["kind"] == "timeout"),
        "mismatches": len(run.mismatches), "mismatch_list": run.mismatches[:50],
        "cross_session": sum(1 for m in run.mismatches if m["kind"] == "cross-session"),
        "server_tracebacks": tracebacks, "console_errors": len(run.console),
        "console_error_list": run.console[:20], "warnings_seen": sorted(run.warnings)[:20],
        "warmup_end_s": warm_t, "rss_start_mib": in_load[0][1] if in_load else None,
        "rss_warm_mib": rss_warm, "rss_end_mib": rss_end,
        "rss_max_after_warm_mib": max((s[1] for s in after), default=None),
        "rss_slope_after_warm_mib_per_min": slope, "rss_series": series,
        "events": run.events, "server_log": str(server.log),
    }
    u = out["uploads"]
    print(f"[{n} session(s)] uploads {u['completed']}/{u['attempted']} p50 {u['p50_s']} s p95 {u['p95_s']} s "
          f"max {u['max_s']} s; model switches p50 {out['model_switches']['p50_s']} s; errors {out['errors']}, "
          f"mismatches {out['mismatches']} (cross-session {out['cross_session']}); RSS warm {rss_warm} MiB -> "
          f"end {rss_end} MiB (slope {slope} MiB/min)", flush=True)
    return out


def machine_facts() -> dict:
    import importlib.metadata as md

    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as fh:
            mem = int(next(line.split()[1] for line in fh if line.startswith("MemTotal"))) // 1024
    except (OSError, StopIteration):
        pass

    def ver(pkg: str) -> str:
        try:
            return md.version(pkg)
        except md.PackageNotFoundError:
            return "?"

    chromium = ""
    try:
        chromium = subprocess.run([CHROMIUM, "--version"], check=False, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {"cpu_model": cpu, "usable_cores": len(os.sched_getaffinity(0)), "memory_mib": mem, "gpu": "none",
            "python": platform.python_version(), "streamlit": ver("streamlit"),
            "tensorflow": ver("tensorflow-cpu") if ver("tensorflow-cpu") != "?" else ver("tensorflow"),
            "playwright": ver("playwright"), "chromium": chromium,
            "note": "server, browser and load script share these cores"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, nargs="+", default=[1, 8], help="session counts to run, in order")
    p.add_argument("--duration", type=float, default=180.0, help="seconds of load per configuration")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds a step may take before it fails")
    p.add_argument("--models", help="comma list (default: every registered model with shipped weights)")
    p.add_argument("--pairs", type=int, default=7, help="image pairs per session (cycled)")
    p.add_argument("--stagger", type=float, default=0.5, help="seconds between session starts")
    p.add_argument("--data", default=os.environ.get("LEUKEMIA_DATA") or str(PROJECT_ROOT.parent / "shared" / "data"),
                   help="folder with cnmc2019/ and aria_all/ (else the bundled samples)")
    p.add_argument("--weights-dir", default=str(PROJECT_ROOT / "model_weights"))
    p.add_argument("--skip-tf-check", action="store_true", help="skip the threads-on-one-model check")
    p.add_argument("--app-root", default=str(PROJECT_ROOT),
                   help="folder whose app.py is served (e.g. an older revision from `git archive`, to compare)")
    p.add_argument("--app-label", default="", help="how the JSON names the served app (default: its folder)")
    p.add_argument("--append", action="store_true",
                   help="add the configurations to an existing --out file (replacing those of the same app and sessions)")
    p.add_argument("--out", default=str(PROJECT_ROOT / "model_weights" / "loadtest.json"))
    args = p.parse_args(argv)

    from leukemia_core.inference import weights_status
    from leukemia_core.models import list_models
    from leukemia_core.models.calibration import read_calibration

    wdir = Path(args.weights_dir)
    models = args.models.split(",") if args.models else [m for m in list_models() if weights_status(m, wdir) == "ok"]
    if "proposed" in models:  # the app's default first: the cycle starts where a new session starts
        models.remove("proposed")
        models.insert(0, "proposed")
    plans = image_plan(max(args.sessions), args.pairs, Path(args.data) if args.data else None)
    files = sorted({p for plan in plans for pair in plan for p in pair})
    print(f"computing the expected values of {len(files)} images x {len(models)} models ...", flush=True)
    t = time.perf_counter()
    expected = expected_values(files, models, wdir)
    print(f"  done in {time.perf_counter() - t:.0f} s", flush=True)
    calibrations = {m: read_calibration(wdir, m) for m in models}
    tf_check = []
    if not args.skip_tf_check:
        few = [p for pair in plans[0][:3] for p in pair]
        for m in models[:2]:
            tf_check.append(tf_concurrency(m, few, wdir, threads=max(args.sessions)))
            print(f"TF concurrency check: {tf_check[-1]}", flush=True)
    report = {
        "format": "leukemia_core.loadtest/1", "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join(shlex.quote(a) for a in [Path(sys.executable).name, "tools/loadtest.py",
                                                       *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine_facts(),
        "settings": {"app_root": "project" if Path(args.app_root).resolve() == PROJECT_ROOT else args.app_root,
                     "models": models, "duration_s": args.duration, "timeout_s": args.timeout,
                     "pairs_per_session": args.pairs, "images_per_upload": 2, "cam_method": "gradcam",
                     "images": ("per upload one C-NMC 2019 single-cell crop (450x450 BMP) and one Aria ALL smear "
                                "field (224x224 JPEG); no image is given to two sessions"
                                if not str(files[0]).startswith(str(PROJECT_ROOT)) else "bundled samples"),
                     "steps": "upload a pair, switch the sidebar model, move the threshold (slider, or each "
                              "model's validated threshold every third round); each step timed to the rendered "
                              "calls and checked against the core's values"},
        "tf_concurrency": tf_check,
        "configs": [],
    }
    for n in args.sessions:
        report["configs"].append(run_config(n, args, models, plans, expected, calibrations, wdir))
    out = Path(args.out)
    if args.append and out.is_file():
        before = json.loads(out.read_text())
        again = {(c["app"], c["sessions"]) for c in report["configs"]}  # a rerun replaces its configuration
        report["configs"] = [c for c in before.get("configs", []) if (c.get("app"), c.get("sessions")) not in again] \
            + report["configs"]
        report["command"] = f"{before.get('command', '')}; {report['command']}".lstrip("; ")
        report["tf_concurrency"] = report["tf_concurrency"] or before.get("tf_concurrency", [])
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"-> {out}")
    bad = sum(c["errors"] + c["mismatches"] for c in report["configs"])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
