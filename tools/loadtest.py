"""Load test of the dashboard: several browser sessions at once, each checked for its own results.

    python -m tools.loadtest --sessions 1 8 --duration 180 --out model_weights/loadtest.json

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
what the core computes for that file and model (``leukemia_core.cells.analyze.read_cells`` with the
predictor and Grad-CAM explainer the page uses, computed before the server starts). A name from another session
counts as a cross-session mismatch; any exception or error box counts as an error; a step with no
result within ``--timeout`` seconds is a failure, with a screenshot and the page's text kept under
/tmp. The server's RSS (the Streamlit process and its children, from /proc) is sampled every second.

Writes JSON (machine, settings, command line, and per configuration: uploads attempted/completed,
p50/p95/max time to result, errors, mismatches, RSS series and RSS at warm-up end against the end).
``python -m leukemia_core table --readme docs/results.md`` turns it into docs/results.md's "Reliability under
load" block. This lives outside the ``leukemia_core`` package on purpose: the core never starts the app.

Run it from the project root as a module (``python -m tools.loadtest``), so that ``leukemia_core``,
``pages`` and ``tools`` import without touching ``sys.path``. This module drives the configurations
and writes the report; :mod:`tools.loadtest_session` drives one browser session,
:mod:`tools.loadtest_checks` holds the expected values and the page check, :mod:`tools.loadtest_server`
starts the server and samples its memory, :mod:`tools.concurrency_probe` is the threads-on-one-model check.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

if not __package__:  # `python tools/loadtest.py`: `tools` would not be importable as a package
    sys.exit("run the load test from the project root as a module: python -m tools.loadtest --help")

from tools.concurrency_probe import tf_concurrency  # noqa: E402
from tools.loadtest_checks import PROJECT_ROOT, Run, expected_values, image_plan, pct  # noqa: E402
from tools.loadtest_server import RssSampler, rss_summary, start_server, stop_server  # noqa: E402
from tools.loadtest_session import CHROMIUM, CHROMIUM_ARGS, Session  # noqa: E402


# ---------------------------------------------------------------------------------------------
# one configuration


def summarise_times(events: list[dict], kind: str) -> dict:
    """Steps of ``kind`` attempted and completed, and their times (all, and "fresh": files and model
    not shown to the session before)."""
    evs = [e for e in events if e["kind"] == kind]
    secs = [e["seconds"] for e in evs if e["ok"]]
    fresh = [e["seconds"] for e in evs if e["ok"] and e["fresh"]]
    return {"attempted": len(evs), "completed": len(secs), "p50_s": pct(secs, 0.5), "p95_s": pct(secs, 0.95),
            "max_s": round(max(secs), 2) if secs else None, "fresh_completed": len(fresh),
            "fresh_p50_s": pct(fresh, 0.5), "fresh_p95_s": pct(fresh, 0.95)}


async def drive(run: Run, n: int, url: str, plans, models: list[str], duration: float, stagger: float) -> None:
    """``n`` sessions in one headless Chromium for ``duration`` seconds, started ``stagger`` s apart."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        deadline = time.perf_counter() + duration
        await asyncio.gather(*(Session(run, s, url, plans[s], models).run_until(browser, deadline, s * stagger)
                               for s in range(n)))
        await browser.close()


def app_name(args) -> str:
    """How the report names the served app."""
    return args.app_label or ("working tree" if Path(args.app_root).resolve() == PROJECT_ROOT else args.app_root)


def run_config(n: int, args, models: list[str], plans, expected, calibrations, wdir: Path) -> dict:
    """Serve the app, load it with ``n`` sessions, stop it; the configuration's figures."""
    owners = {p.name: s for s, plan in enumerate(plans[:n]) for pair in plan for p in pair}
    server = start_server(wdir, models, app_root=Path(args.app_root))
    sampler = RssSampler(server.proc.pid, server.t0)
    sampler.start()
    run = Run(server.t0, expected, calibrations, owners, args.timeout, f"n{n}")
    started = run.now()
    try:
        asyncio.run(drive(run, n, server.url, plans, models, args.duration, args.stagger))
    finally:
        ended = run.now()
        time.sleep(1.5)
        sampler.stop.set()
        sampler.join()
        stop_server(server)
    tracebacks = server.log.read_text(errors="replace").count("Traceback")
    warm_t = max([*run.first_round_done.values(), *run.model_first_seen.values(), 0.0])
    rss = rss_summary(sampler.series, warm_t, ended)
    out = {
        "app": app_name(args), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpu_model": cpu_model(),
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
        "warmup_end_s": warm_t, **rss, "rss_series": sampler.series,
        "events": run.events, "server_log": server.log.name,  # in the temporary folder; no machine path
    }
    u = out["uploads"]
    print(f"[{n} session(s)] uploads {u['completed']}/{u['attempted']} p50 {u['p50_s']} s p95 {u['p95_s']} s "
          f"max {u['max_s']} s; model switches p50 {out['model_switches']['p50_s']} s; errors {out['errors']}, "
          f"mismatches {out['mismatches']} (cross-session {out['cross_session']}); RSS warm {rss['rss_warm_mib']} "
          f"MiB -> end {rss['rss_end_mib']} MiB (slope {rss['rss_slope_after_warm_mib_per_min']} MiB/min)", flush=True)
    return out


# ---------------------------------------------------------------------------------------------
# the machine, the command line and the report


def _proc_line(path: str, prefix: str) -> str:
    """The first line of ``path`` starting with ``prefix``; "" when there is none or it cannot be read."""
    try:
        with open(path) as fh:
            return next(line for line in fh if line.startswith(prefix))
    except (OSError, StopIteration):
        return ""


def package_version(pkg: str) -> str:
    """The installed version of ``pkg``, "?" when it is not installed."""
    import importlib.metadata as md

    try:
        return md.version(pkg)
    except md.PackageNotFoundError:
        return "?"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ("" when it does not say)."""
    line = _proc_line("/proc/cpuinfo", "model name")
    return line.split(":", 1)[1].strip() if line else ""


def machine_facts() -> dict:
    """CPU, cores, memory and the versions of what the server and browser run."""
    mem_line = _proc_line("/proc/meminfo", "MemTotal")
    chromium = ""
    try:
        chromium = subprocess.run([CHROMIUM, "--version"], check=False, capture_output=True, text=True,
                                  timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    tf = package_version("tensorflow-cpu")
    return {"cpu_model": cpu_model(),
            "usable_cores": len(os.sched_getaffinity(0)),
            "memory_mib": int(mem_line.split()[1]) // 1024 if mem_line else 0, "gpu": "none",
            "python": platform.python_version(), "streamlit": package_version("streamlit"),
            "tensorflow": tf if tf != "?" else package_version("tensorflow"),
            "playwright": package_version("playwright"), "chromium": chromium,
            "note": "server, browser and load script share these cores"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (see the module's docstring)."""
    p = argparse.ArgumentParser(prog="python -m tools.loadtest", description=__doc__.split("\n\n")[0])
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
    return p.parse_args(argv)


def settings(args, models: list[str], files: list[Path]) -> dict:
    """The report's ``settings``: what was served and how it was driven."""
    return {"app_root": "project" if Path(args.app_root).resolve() == PROJECT_ROOT else args.app_root,
            "models": models, "duration_s": args.duration, "timeout_s": args.timeout,
            "pairs_per_session": args.pairs, "images_per_upload": 2, "cam_method": "gradcam",
            "images": ("per upload one C-NMC 2019 single-cell crop (450x450 BMP) and one Aria ALL smear "
                       "field (224x224 JPEG); no image is given to two sessions"
                       if not str(files[0]).startswith(str(PROJECT_ROOT)) else "bundled samples"),
            "steps": "upload a pair, switch the sidebar model, move the threshold (slider, or each "
                     "model's validated threshold every third round); each step timed to the rendered "
                     "calls and checked against the core's values"}


def merge_into(report: dict, before: dict) -> dict:
    """``report`` added to an earlier report: a configuration run again (same app and sessions)
    replaces the earlier one, the commands are joined, an earlier concurrency check is kept when
    this run skipped it."""
    again = {(c["app"], c["sessions"]) for c in report["configs"]}
    report["configs"] = [c for c in before.get("configs", []) if (c.get("app"), c.get("sessions")) not in again] \
        + report["configs"]
    report["command"] = f"{before.get('command', '')}; {report['command']}".lstrip("; ")
    report["tf_concurrency"] = report["tf_concurrency"] or before.get("tf_concurrency", [])
    return report


def main(argv: list[str] | None = None) -> int:
    """Run every configuration of the command line and write the report; 1 when any step erred or
    showed a mismatch."""
    args = parse_args(argv)

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
        "command": " ".join(shlex.quote(a) for a in [Path(sys.executable).name, "-m", "tools.loadtest",
                                                       *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine_facts(),
        "settings": settings(args, models, files),
        "tf_concurrency": tf_check,
        "configs": [],
    }
    for n in args.sessions:
        report["configs"].append(run_config(n, args, models, plans, expected, calibrations, wdir))
    out = Path(args.out)
    if args.append and out.is_file():
        report = merge_into(report, json.loads(out.read_text()))
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"-> {out}")
    bad = sum(c["errors"] + c["mismatches"] for c in report["configs"])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
