"""Load test of case review: browser sessions reviewing different cases, and some the same case, at once.

    python -m tools.loadtest_cases --sessions 8 --shared 2 --clicks 6 --out model_weights/loadtest_cases.json

Set-up: ``predict`` with the proposed model on the bundled ALL samples (6 images, 32 cells), imported
as ``--sessions`` + 1 cases ``LT-1`` .. into a fresh SQLite case store (``$LEUKEMIA_DATA_HOME``, a
temporary folder; the import is recorded as ``loadtest · unauthenticated (single-user mode)``, before
anyone signs in), then an OpenID provider (``oidc-provider-mock`` on a thread, :mod:`tools.loadtest_login`),
one ``streamlit run serve.py`` (:func:`tools.loadtest_server.start_server`) with an ``[auth]`` table in
its secrets, and one headless Chromium with a browser context per session (the async API, one event loop).

Sessions are signed-in users, registered at the provider with the groups claim ``leukemia-reviewer``
(the reviewer role): ``reviewer-1@example.com`` .. ``reviewer-N@example.com`` each review their own case;
``shared-1@example.com`` .. ``shared-M@example.com`` all review the last case. Each session logs in
through the provider (the Cases page's "Log in to review", the provider's form, back to the Cases page,
whose sidebar must read "Signed in as EMAIL"), opens its case and clicks ``--clicks`` decisions one
after another, each on a cell found by its control's key: the page keys cell ``c``'s
decision control ``cases_d_<case>_<c>`` and Streamlit puts the class ``st-key-<key>`` on its
container, so the driver knows which cell it clicks. A single reviewer's last click goes back to
their first cell with another decision (last write wins). After a click the driver waits for the
rerun: the case version drawn changes (saved: one up; refused: the newer state) or an error shows.

Checked from the store afterwards (:func:`check`):

* ``no_app_error``: no session saw an exception, an error box or a failed step (the login included);
* ``single_cases_hold_last_click``: on each single reviewer's case every clicked cell holds that
  reviewer's last decision on it (by cell id), every click is in the audit log and none was refused;
* ``shared_case_accounted``: on the shared case every click was either saved (in the audit log by that
  reviewer, as often as the page saved it) or refused with the page's "changed since you opened it"
  message, the audit log holds no save the page refused, and each cell holds its newest audited decision;
* ``reviews_by_signed_in_users`` (:func:`tools.loadtest_login.signed_in_check`): every review row and
  every audit line but the tool's import names a session's e-mail alone (no ``unauthenticated``
  record), and the store became shared.

The audit log is matched by the signed-in e-mail (what a signed-in user's records name).
``ok`` is true only when all four hold and every planned click was made; the per-click detail (version
before and after, the option the page shows checked after the rerun) tells a driver's mis-click from an
app's lost update.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

if not __package__:  # `python tools/loadtest_cases.py`: `tools` would not be importable as a package
    sys.exit("run the load test from the project root as a module: python -m tools.loadtest_cases --help")

from playwright.async_api import TimeoutError as PWTimeout  # noqa: E402

from tools.loadtest_checks import PROJECT_ROOT, pct  # noqa: E402
from tools.loadtest_login import (GROUPS, LOGIN, offline, provider, register_user, signed_in_check,  # noqa: E402
                                  timed_log_in, write_secrets)
from tools.loadtest_server import free_port, start_server, stop_server  # noqa: E402
from tools.loadtest_session import CHROMIUM, CHROMIUM_ARGS, SETTLED_JS  # noqa: E402

MODEL = "proposed"
REFUSED = "since you opened it"
#: decisions a session cycles through (never the one the cell shows: a click on it would clear it)
CYCLE = ("ALL", "HEM", "accept")
LABELS = {"accept": "Accept", "ALL": "ALL", "HEM": "HEM"}

#: The page as drawn now (non-stale elements only): the case version in the case's caption, the
#: refusal and other alerts, exceptions, and per decision control of ``case`` its cell id and the
#: label of the option shown checked.
READ_JS = r"""([caseId, refused]) => {
  const main = document.querySelector('[data-testid="stMain"]') || document.body;
  const live = [...main.querySelectorAll('[data-testid="stElementContainer"]')]
    .filter(e => e.getAttribute('data-stale') !== 'true' && !e.closest('[data-stale="true"]'));
  let version = null; const alerts = [], exc = [], cells = [];
  const prefix = 'st-key-cases_d_' + caseId + '_';
  for (const el of live) {
    const m = (el.innerText || '').match(/; version (\d+); last change by/);
    if (m && !el.querySelector('[data-testid="stElementContainer"]')) version = parseInt(m[1]);
    const a = el.querySelector('[data-testid="stAlert"]');
    if (a && !el.querySelector('[data-testid="stElementContainer"]')) alerts.push(a.innerText.slice(0, 300));
    const x = el.querySelector('[data-testid="stException"]');
    if (x) exc.push(x.innerText.slice(0, 300));
    const k = [...el.classList].find(c => c.startsWith(prefix));
    if (k) {
      const on = el.querySelector('button[role="radio"][aria-checked="true"]');
      const off = el.querySelector('button[role="radio"][disabled]');
      cells.push({cell: parseInt(k.slice(prefix.length)), checked: on ? on.innerText.trim() : null, enabled: !off});
    }
  }
  return {version, alerts, exc: [...new Set(exc)], cells, refused: alerts.some(a => a.includes(refused)),
          running: !!document.querySelector('[data-testid="stStatusWidget"]')};
}"""

#: True once a rerun drew another case version than ``before``, or an exception shows.
RERUN_JS = r"""([caseId, before]) => {
  if (document.querySelector('[data-testid="stException"]')) return true;
  if (document.querySelector('[data-testid="stStatusWidget"]')) return false;
  const main = document.querySelector('[data-testid="stMain"]') || document.body;
  for (const el of main.querySelectorAll('[data-testid="stCaptionContainer"]')) {
    if (el.closest('[data-stale="true"]')) continue;
    const m = el.innerText.match(/; version (\d+); last change by/);
    if (m && parseInt(m[1]) !== before) return true;
  }
  return false;
}"""


#: True once ``case``'s tiles are drawn by a finished run: its version shown, an enabled decision control.
OPENED_JS = "(args) => { if (!(" + SETTLED_JS + ")()) return false; const s = (" + READ_JS + \
    ")(args); return s.version !== null && s.cells.some(c => c.enabled); }"


#: The options an open select list draws (None when none is open).
LIST_JS = """() => { const l = document.querySelector('[role="listbox"]');
  return l ? [...l.querySelectorAll('[role="option"]')].map(o => o.innerText.trim()) : null; }"""
#: How long one try of :func:`pick_case` waits for its option (ms).
PICK_TRY_MS = 30_000


async def settle(page, locator, tmo_ms: float) -> None:
    """Scroll ``locator`` to mid-screen; wait until the page is settled (:data:`SETTLED_JS`) and its
    box stays put for 300 ms (a click computed on a page still moving lands on another option)."""
    deadline = time.perf_counter() + tmo_ms / 1000
    box = None
    while time.perf_counter() < deadline:
        await page.wait_for_function(SETTLED_JS, timeout=tmo_ms, polling=100)
        # mid-screen: pressed at the viewport's edge, the group moves focus to its checked option, the
        # browser scrolls to it and the press is cancelled (nothing sent; seen with cell 1 at y = -0.7)
        await locator.evaluate("b => b.scrollIntoView({block: 'center'})", timeout=tmo_ms)
        now = await locator.bounding_box()
        if box is not None and now == box and await page.evaluate(SETTLED_JS):
            return
        box = now
        await page.wait_for_timeout(300)
    raise TimeoutError("the page did not settle")


async def pick_case(page, case_id: str, tmo_ms: float, rec: dict) -> None:
    """Choose ``case_id`` in the "Open case" box, scrolled to mid-screen first (:func:`settle`). A try
    waits :data:`PICK_TRY_MS` for the option; when it does not come the list is closed and opened again
    (until ``tmo_ms``), and ``rec["open_case_retries"]`` keeps what the failed try saw: the options the
    open list drew, or None when no list was open."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Open case")
    deadline = time.perf_counter() + tmo_ms / 1000
    while True:
        await settle(page, box, tmo_ms)
        await box.click(timeout=tmo_ms)
        try:
            await page.get_by_role("option", name=case_id, exact=True).click(timeout=PICK_TRY_MS)
            return
        except PWTimeout:
            rec.setdefault("open_case_retries", []).append({"list_shown": await page.evaluate(LIST_JS)})
            if time.perf_counter() >= deadline:
                raise
            await page.keyboard.press("Escape")


def prepare(home: Path, n_cases: int) -> str:
    """``predict`` once, import the results as cases ``LT-1`` .. ``LT-n``; return the store's URL."""
    from leukemia_core.cases.db import open_store
    from leukemia_core.cases.importer import import_rows, read_predict_csv

    pred, cells = home / "pred.csv", home / "cells.csv"
    subprocess.run([sys.executable, "-m", "leukemia_core", "-q", "predict", "--model", MODEL, "--out", str(pred),
                    "--cells", str(cells), "leukemia_core/samples/all"], cwd=PROJECT_ROOT, check=True,
                   capture_output=True)
    url = f"sqlite:///{home / 'cases.sqlite3'}"
    store = open_store(url, home)
    rows, cell_rows = read_predict_csv(pred, cells)
    for k in range(1, n_cases + 1):
        import_rows(store, f"LT-{k}", rows, cell_rows, "loadtest", source="loadtest", base=PROJECT_ROOT,
                    sample={"specimen_id": f"LT-{k}", "sample_date": dt.date(2026, 1, 1), "patient_ref": f"LT-P{k}"})
    store.dispose()
    return url


async def read(page, case_id: str) -> dict:
    """The page as :data:`READ_JS` reads it."""
    return await page.evaluate(READ_JS, [case_id, REFUSED])


def plan_cells(cells: list[int], clicks: int, shared: bool) -> list[int]:
    """The cells a session clicks, in order: the first ``clicks`` of its page; a single reviewer's
    last click goes back to the first cell (with another decision), so that last-write-wins is checked."""
    if shared or clicks < 3 or len(cells) < 2:
        return [cells[i % len(cells)] for i in range(clicks)]
    return cells[:clicks - 1] + [cells[0]]


async def session(browser, url: str, who: str, case_id: str, clicks: int, shared: bool, offset: int,
                  delay: float, tmo_ms: float, rec: dict, shots: Path) -> None:
    """One reviewer's session; ``rec`` gets its clicks (cell id, decision, refused, versions, what the
    page shows), errors and console errors, and at a failure the page read and a screenshot (in ``shots``)."""
    await asyncio.sleep(delay)
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
    await offline(ctx)
    page = await ctx.new_page()
    page.on("pageerror", lambda e: rec["console"].append(str(e)[:300]))
    sent = [0]  # messages the page sent to the server: a click that sends none never reached it
    page.on("websocket", lambda ws: ws.on("framesent", lambda _: sent.__setitem__(0, sent[0] + 1)))
    step = "log in"
    try:
        await timed_log_in(page, url, who, tmo_ms, rec)
        step = "open case"
        await pick_case(page, case_id, tmo_ms, rec)
        await page.get_by_role("heading", name=f"Case {case_id}", exact=True).wait_for(timeout=tmo_ms)
        try:  # the heading can come a run before the tiles: wait for this case's live, enabled controls
            await page.wait_for_function(OPENED_JS, arg=[case_id, REFUSED], timeout=tmo_ms, polling=200)
        except Exception as exc:  # noqa: BLE001 - recorded as this step's failure
            raise RuntimeError(f"case {case_id}: no enabled decision control or no version drawn") from exc
        state = await read(page, case_id)
        ids = [c["cell"] for c in state["cells"] if c["enabled"]]
        checked = {c["cell"]: c["checked"] for c in state["cells"]}
        for i, cid in enumerate(plan_cells(ids, clicks, shared)):
            step = f"click {i}"
            k = (i + offset) % len(CYCLE)
            while LABELS[CYCLE[k]] == checked.get(cid):  # clicking the shown option would clear it
                k = (k + 1) % len(CYCLE)
            decision, before = CYCLE[k], state["version"]
            t = time.perf_counter()
            ctl = page.locator(f'.st-key-cases_d_{case_id}_{cid}:not([data-stale="true"])')
            button = ctl.get_by_role("radio", name=LABELS[decision], exact=True)
            await settle(page, button, tmo_ms)
            sent_before = sent[0]
            await button.click(timeout=tmo_ms)
            try:
                await page.wait_for_function(RERUN_JS, arg=[case_id, before], timeout=tmo_ms, polling=100)
                await page.wait_for_function(SETTLED_JS, timeout=tmo_ms, polling=100)
                rerun = True
            except Exception:  # noqa: BLE001 - recorded: a click the page never answered
                rerun = False
            state = await read(page, case_id)
            checked = {c["cell"]: c["checked"] for c in state["cells"]}
            rec["clicks"].append({"cell": cid, "decision": decision, "refused": state["refused"],
                                  "rerun": rerun, "version_before": before, "version_after": state["version"],
                                  "shown_after": checked.get(cid), "sent_to_server": sent[0] > sent_before,
                                  "seconds": round(time.perf_counter() - t, 3),
                                  "alerts": [a for a in state["alerts"] if not a.startswith("Sign-off")]})
            if state["exc"]:
                rec["errors"].append(f"{step}: app exception: {state['exc'][0]}")
                break
            if not rerun:
                why = "" if sent[0] > sent_before else " (the page sent nothing: the click never reached the app)"
                rec["errors"].append(f"{step}: no rerun drew another version within {tmo_ms / 1000:.0f} s{why}")
                break
    except Exception as exc:  # noqa: BLE001 - recorded: the run reports every session's failure
        rec["errors"].append(f"{step}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        rec["error_log"] = [line.strip()[:200] for line in str(exc).splitlines()[1:]][-10:]  # Playwright's call log
        try:
            rec["page_at_failure"] = await read(page, case_id)
            shot = shots / f"{who}-{step.replace(' ', '_')}.png"
            await page.screenshot(path=str(shot), full_page=True, timeout=20_000)
            rec["screenshot_at_failure"] = str(shot)
        except Exception:  # noqa: BLE001 - the page may be gone
            pass
    finally:
        await ctx.close()


def check(url: str, home: Path, recs: dict) -> dict:
    """Compare each session's clicks with the store and its audit log (see the module's docstring)."""
    from leukemia_core.cases.db import open_store
    from leukemia_core.cases.export import audit_rows
    from leukemia_core.cases.repository import get_case

    store = open_store(url, home)
    single, shared, errors = [], [], []
    try:
        for who, rec in recs.items():
            errors += [f"{who}: {e}" for e in rec["errors"]] + [f"{who}: page error {e}" for e in rec["console"]]
            stored = {c.id: c.decision for _, _, c in get_case(store, rec["case"]).cells(MODEL)}
            audit = [r for r in audit_rows(store, rec["case"]) if r["action"] == "review"]
            mine = Counter((d["cell"], d["decision"]) for d in
                           (json.loads(r["detail"]) for r in audit if r["user"] == who))
            shown_saved = Counter((c["cell"], c["decision"]) for c in rec["clicks"] if not c["refused"])
            out = shared if rec["shared"] else single
            out += [f"{who}: click on cell {c}: {d} shown saved, not in the audit log (x{n})"
                    for (c, d), n in (shown_saved - mine).items()]
            out += [f"{who}: cell {c}: {d} in the audit log, the page did not show it saved (x{n})"
                    for (c, d), n in (mine - shown_saved).items()]
            if rec["shared"]:
                continue
            last = {c["cell"]: c["decision"] for c in rec["clicks"]}
            single += [f"{who} {rec['case']} cell {c}: clicked last {d}, stores {stored.get(c)}"
                       for c, d in last.items() if stored.get(c) != d]
            single += [f"{who} {rec['case']} cell {c['cell']}: refused on a case no one else reviews"
                       for c in rec["clicks"] if c["refused"]]
        for case in {r["case"] for r in recs.values() if r["shared"]}:  # each cell: its newest audited decision
            stored = {c.id: c.decision for _, _, c in get_case(store, case).cells(MODEL)}
            newest = {d["cell"]: d["decision"] for d in (json.loads(r["detail"]) for r in audit_rows(store, case)
                                                         if r["action"] == "review")}
            shared += [f"{case} cell {c}: stores {stored.get(c)}, newest audited {d}" for c, d in newest.items()
                       if stored.get(c) != d]
    finally:
        store.dispose()
    return {"no_app_error": not errors, "single_cases_hold_last_click": not single,
            "shared_case_accounted": not shared, "errors": errors, "single_case_failures": single,
            "shared_case_failures": shared}


async def drive(url: str, plan: list[tuple[str, str, bool]], args, shots: Path) -> dict:
    """Run every session of ``plan`` (who, case, shared) in one browser, ``--stagger`` seconds apart;
    screenshots of failed sessions go to ``shots``."""
    from playwright.async_api import async_playwright

    recs = {who: {"case": case, "shared": sh, "clicks": [], "errors": [], "console": []} for who, case, sh in plan}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            await asyncio.gather(*(session(browser, url, who, case, args.clicks, sh, k, k * args.stagger,
                                           args.timeout * 1000, recs[who], shots)
                                   for k, (who, case, sh) in enumerate(plan)))
        finally:
            await browser.close()
    return recs


def main(argv: list[str] | None = None) -> int:
    """Run the load test, write the report; exit 0 when every check holds."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=8, help="sessions reviewing a case each (default 8)")
    ap.add_argument("--shared", type=int, default=2, help="sessions reviewing one shared case (default 2)")
    ap.add_argument("--clicks", type=int, default=6, help="decisions per session (default 6)")
    ap.add_argument("--stagger", type=float, default=2.0, help="seconds between session starts (default 2)")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds a step may take (default 180)")
    ap.add_argument("--out", default=str(PROJECT_ROOT / "model_weights" / "loadtest_cases.json"))
    args = ap.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="loadtest-cases-"))
    os.environ.pop("LEUKEMIA_DB_URL", None)
    os.environ["LEUKEMIA_DATA_HOME"] = str(home)  # start_server passes the environment on
    n_cases = args.sessions + (1 if args.shared else 0)
    db_url = prepare(home, n_cases)
    plan = [(f"reviewer-{k}@example.com", f"LT-{k}", False) for k in range(1, args.sessions + 1)]
    plan += [(f"shared-{j}@example.com", f"LT-{n_cases}", True) for j in range(1, args.shared + 1)]
    with provider() as provider_url:
        for who, _, _ in plan:
            register_user(provider_url, who, GROUPS)
        port = free_port()
        secrets = write_secrets(home / "secrets.toml", f"http://localhost:{port}", provider_url)
        server = start_server(PROJECT_ROOT / "model_weights", [MODEL], timeout=300, port=port, secrets=secrets,
                              host="localhost")
        t0 = time.perf_counter()
        try:
            recs = asyncio.run(drive(server.url, plan, args, home))
        finally:
            wall = time.perf_counter() - t0
            stop_server(server)
    checks = check(db_url, home, recs)
    checks.update(signed_in_check(db_url, home, {who for who, _, _ in plan}))
    clicks = [c for r in recs.values() for c in r["clicks"]]
    secs = [c["seconds"] for c in clicks if c["rerun"]]
    logins = [r["login_s"] for r in recs.values() if "login_s" in r]
    on_shared = [c for r in recs.values() if r["shared"] for c in r["clicks"]]
    report = {
        "what": f"{args.sessions} browser sessions on a case each and {args.shared} on one shared case, at once, "
                "in one headless Chromium (a context each), each a user signed in through the OpenID provider, "
                "against one streamlit run serve.py with a login",
        "command": "python -m tools.loadtest_cases " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "settings": vars(args), "store": "SQLite", "login": LOGIN, "groups": GROUPS,
        "users": [who for who, _, _ in plan], "server_log": server.log.name, "data_home": "a temporary folder",
        "wall_s": round(wall, 1), "sessions": len(plan), "clicks_planned": len(plan) * args.clicks,
        "clicks": len(clicks), "saved": sum(not c["refused"] for c in clicks),
        "refused_on_shared_case": sum(c["refused"] for c in on_shared),
        "saved_on_shared_case": sum(not c["refused"] for c in on_shared),
        "click_to_rerun_s": {"p50": pct(secs, 0.5), "p95": pct(secs, 0.95), "max": max(secs, default=None)},
        "login_s": {"p50": pct(logins, 0.5), "max": max(logins, default=None), "signed_in": len(logins)},
        "open_case_retries": sum(len(r.get("open_case_retries", [])) for r in recs.values()),
        **checks,
    }
    report["ok"] = (checks["no_app_error"] and checks["single_cases_hold_last_click"]
                    and checks["shared_case_accounted"] and checks["reviews_by_signed_in_users"]
                    and report["clicks"] == report["clicks_planned"])
    report["detail"] = recs
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "detail"}, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
