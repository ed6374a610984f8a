"""One browser session of the load test (:mod:`tools.loadtest`), driven with Playwright.

Each round uploads the session's next pair of images, switches the sidebar model and moves the
decision threshold; every step is timed to the rendered calls, and the page read after it is checked
(:func:`tools.loadtest_checks.record_page`).
"""

from __future__ import annotations

import asyncio
import time
from functools import partial
from pathlib import Path

from playwright.async_api import Error as PWError

from tools.loadtest_checks import SHOTS, Run, check_page, record_page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-renderer-backgrounding", "--disable-background-timer-throttling",
                 "--disable-backgrounding-occluded-windows"]
TOGGLE = "Each model's validated threshold"
#: Slider positions a session moves to, in turn (offset by its index).
TARGETS = [0.30, 0.45, 0.60, 0.40, 0.55, 0.35, 0.65]

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
  const re = new RegExp(/^(\S+): image (ALL|HEM|NO CALL)(?: \([^)]*\))? /.source
    + /\(mean cell P\(ALL\) [01]\.\d+, image threshold [01]\.\d+, cell threshold ([01]\.\d+)\)/.source);
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
#: No run in progress and no element of an earlier run still drawn: a read then sees one whole run.
SETTLED_JS = ("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
              " && !document.querySelector('[data-testid=\"stMain\"] [data-stale=\"true\"]')")


async def read_state(page) -> dict:
    """The page as :data:`READ_JS` reads it."""
    return await page.evaluate(READ_JS)


async def wait_idle(page, timeout_ms: float) -> None:
    """Wait until no script run is in progress."""
    await page.wait_for_timeout(150)
    await page.wait_for_function(IDLE_JS, timeout=timeout_ms, polling=100)


async def wait_settled(page, timeout_ms: float) -> None:
    """Wait until the page is settled (:data:`SETTLED_JS`) and still is 300 ms later. Between the calls
    and the maps the Classify page runs again; elements are marked stale before the run's status shows,
    so a read in that moment would miss results that are about to be redrawn."""
    deadline = time.perf_counter() + timeout_ms / 1000
    await page.wait_for_timeout(150)
    while True:
        left = max(1.0, (deadline - time.perf_counter()) * 1000)
        await page.wait_for_function(SETTLED_JS, timeout=left, polling=100)
        await page.wait_for_timeout(300)
        if await page.evaluate(SETTLED_JS) or time.perf_counter() >= deadline:
            return


async def record_failure(run: Run, sid: int, page, step: str, exc: Exception) -> None:
    """Count ``exc`` as an error of ``step``, with a screenshot and the page's text when it can be read."""
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
                       "screenshot": shot.name if shot else None, "page_text": text, "script_running": running,
                       "exceptions_and_alerts": shown})


class Session:
    """Session ``sid`` of ``run``: one browser context on ``url``, cycling over ``plan``'s image
    pairs and over ``models``. Its attributes hold what the page should show now."""

    def __init__(self, run: Run, sid: int, url: str, plan: list[tuple[Path, Path]], models: list[str]):
        self.run, self.sid, self.url, self.plan, self.models = run, sid, url, plan, models
        self.tmo = run.timeout * 1000
        self.page = self.sidebar = None
        self._reset()

    def _reset(self) -> None:
        """What a newly opened page selects: the first model, each model's own threshold, no files."""
        self.model, self.own, self.thr, self.files = self.models[0], True, None, []
        self.seen: set = set()  # (files, model) already shown once: later steps with them are not "fresh"

    def _on_console(self, msg) -> None:
        if msg.type == "error":
            self.run.console.append({"t": self.run.now(), "session": self.sid, "text": msg.text[:300]})

    async def open_page(self) -> None:
        """Open the app (again, as a user would reload) and wait for its first run to end."""
        await self.page.goto(f"{self.url}/", wait_until="domcontentloaded", timeout=self.tmo)
        await self.page.get_by_role("heading", name="Classify cells").wait_for(timeout=self.tmo)
        await wait_idle(self.page, self.tmo)
        self._reset()

    async def run_until(self, browser, deadline: float, start_delay: float) -> None:
        """Open the page after ``start_delay`` seconds and do rounds until ``deadline`` (perf_counter).

        A step that fails is counted and the page reopened; the session ends when it cannot be."""
        await asyncio.sleep(start_delay)
        ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = await ctx.new_page()
        self.page.on("console", self._on_console)
        try:
            await self.open_page()
        except PWError as exc:
            await record_failure(self.run, self.sid, self.page, "open", exc)
            await ctx.close()
            return
        self.sidebar = self.page.locator('[data-testid="stSidebar"]')
        rnd = 0
        while time.perf_counter() < deadline:
            try:
                if not await self.round(rnd, deadline):
                    break
            except PWError as exc:
                if not getattr(exc, "recorded", False):
                    await record_failure(self.run, self.sid, self.page, "round", exc)
                try:
                    await self.open_page()
                except PWError as exc2:
                    await record_failure(self.run, self.sid, self.page, "reopen", exc2)
                    break
            if self.sid not in self.run.first_round_done:
                self.run.first_round_done[self.sid] = self.run.now()
            rnd += 1
        await ctx.close()

    async def round(self, rnd: int, deadline: float) -> bool:
        """Upload, switch the model, move the threshold; False when the deadline cut the round short."""
        pair = self.plan[rnd % len(self.plan)]
        names = [p.name for p in pair]
        await self.upload(rnd, pair, names)
        if time.perf_counter() >= deadline:
            return False
        await self.switch_model(rnd, names)
        if time.perf_counter() >= deadline:
            return False
        await self.move_threshold(rnd, names)
        return True

    async def upload(self, rnd: int, pair: tuple[Path, Path], names: list[str]) -> None:
        """Remove the previous uploads, then upload ``pair``."""
        for _ in range(10):
            chips = self.page.locator('[data-testid="stFileChipDeleteBtn"]')
            if not await chips.count():
                break
            await chips.first.click(timeout=self.tmo)
            await wait_idle(self.page, self.tmo)
        dropzone = self.page.locator('[data-testid="stFileUploaderDropzoneInput"]')
        await self.step("upload", names, rnd,
                        partial(dropzone.set_input_files, [str(p) for p in pair], timeout=self.tmo))
        self.files = names

    async def switch_model(self, rnd: int, names: list[str]) -> None:
        """Pick the next model in the sidebar. The first switch of session k skips k models, so that
        the sessions use all models from the start."""
        skip = self.sid if rnd == 0 else 0
        self.model = self.models[(self.models.index(self.model) + 1 + skip) % len(self.models)]
        await self.step("model", names, rnd, self._pick_model)

    async def _pick_model(self) -> None:
        await self.sidebar.locator('[data-testid="stSelectbox"]').first.click(timeout=self.tmo)
        await self.page.get_by_role("option", name=self.model, exact=True).click(timeout=self.tmo)

    async def move_threshold(self, rnd: int, names: list[str]) -> None:
        """Every third round back to each model's own threshold (when not on already), else the
        slider moved with the arrow keys to the next of :data:`TARGETS`."""
        toggle = self.sidebar.locator("label", has_text=TOGGLE).locator("input").first
        self.own = await toggle.is_checked(timeout=self.tmo)
        if rnd % 3 == 2 and not self.own:
            self.own = True
            await self.step("threshold", names, rnd, partial(self.sidebar.get_by_text(TOGGLE).click, timeout=self.tmo))
            return
        if self.own:
            await self.sidebar.get_by_text(TOGGLE).click(timeout=self.tmo)
            self.own = False
            await wait_idle(self.page, self.tmo)
        thumb = self.sidebar.locator('[data-testid="stSlider"] input[type="range"]').first
        now = float(await thumb.input_value(timeout=self.tmo))
        target = TARGETS[(rnd + self.sid) % len(TARGETS)]
        if abs(target - now) < 0.005:
            target = round(now + 0.05, 2)
        self.thr = round(target, 2)
        await self.step("threshold", names, rnd, partial(self._press_arrows, thumb, now, target),
                        actual=partial(thumb.input_value, timeout=self.tmo))

    async def _press_arrows(self, thumb, now: float, target: float) -> None:
        await thumb.focus(timeout=self.tmo)
        key = "ArrowRight" if target > now else "ArrowLeft"
        for _ in range(round(abs(target - now) / 0.01)):
            await self.page.keyboard.press(key)

    async def step(self, kind: str, names: list[str], rnd: int, action, actual=None) -> None:
        """Await ``action()``, time it to the rendered calls, wait for the run to end and check the page.

        ``actual``, when given, reads the slider's value as it ended up (the threshold then expected).
        A step with no result within the timeout is recorded here and its error re-raised, marked
        ``recorded`` so that the session counts it once."""
        run, page, model = self.run, self.page, self.model
        fresh = (tuple(names), model) not in self.seen
        t_start = time.perf_counter()
        ev = {"session": self.sid, "round": rnd, "kind": kind, "t": run.now(), "model": model, "files": names,
              "fresh": fresh, "seconds": None, "ok": False}
        run.events.append(ev)
        await action()
        if actual is not None:
            await page.wait_for_timeout(50)
            self.thr = round(float(await actual()), 2)
        thr = run.calibrations[model].threshold if self.own else self.thr
        try:
            await page.wait_for_function(DONE_JS, arg=[names, model, f"{thr:.2f}"], timeout=self.tmo, polling=100)
        except PWError as exc:
            await record_failure(run, self.sid, page, kind, exc)
            exc.recorded = True
            raise
        ev["seconds"] = round(time.perf_counter() - t_start, 3)
        ev["ok"] = True
        self.seen.add((tuple(names), model))
        run.model_first_seen.setdefault(model, run.now())
        await wait_settled(page, self.tmo)
        ev["idle_s"] = round(time.perf_counter() - t_start, 3)
        state, first = await read_state(page), len(run.mismatches)
        record_page(run, self.sid, kind, state, names, model, thr)
        if len(run.mismatches) > first:
            await self.keep_evidence(run.mismatches[first:], state, names, model, thr)

    async def keep_evidence(self, found: list[dict], state: dict, names: list[str], model: str, thr: float) -> None:
        """Add to each mismatch of one page read what the page showed (text, screenshot) and whether a
        read of the settled page 3 s later still finds it (a lasting wrong page, or a passing one)."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        shot = SHOTS / f"{self.run.tag}-s{self.sid}-mismatch-{len(self.run.mismatches)}.png"
        try:
            await self.page.screenshot(path=str(shot), full_page=True, timeout=20_000)
        except PWError:
            shot = None
        await self.page.wait_for_timeout(3000)
        await wait_settled(self.page, self.tmo)
        later = check_page(self.run, self.sid, await read_state(self.page), names, model, thr)
        still = {(m["kind"], m["file"]) for m in later}
        for m in found:
            m.update(screenshot=shot.name if shot else None, page_text=" | ".join(state["md"])[-1200:],
                     running=state["running"], still_after_3s=(m["kind"], m["file"]) in still)
