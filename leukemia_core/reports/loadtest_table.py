"""The load test's figures (``model_weights/loadtest.json``, written by ``python -m tools.loadtest``)
as the Markdown block ``<!-- loadtest:start -->`` of docs/results.md: one row per run configuration,
the server's memory over time, and one model read from several threads at once."""

from __future__ import annotations

import re
from pathlib import Path

from ..jsonio import read_json
from ..docblocks import markers
from .tables import fmt, fmt_count, md_header, md_row

LOADTEST_BLOCK = "loadtest"
LOADTEST_START, LOADTEST_END = markers(LOADTEST_BLOCK)
LOADTEST_HEADER = ["measured", "app", "sessions", "minutes", "uploads answered", "upload p50 s", "upload p95 s", "upload max s",
                   "model switch p50 / p95 s", "threshold p50 / p95 s", "errors", "timeouts",
                   "cross-session results", "wrong values", "RSS after warm-up → end MiB", "RSS slope MiB/min"]


def _rss_points(series: list, every: float = 30.0) -> str:
    """``t s: MiB`` samples of an RSS series, one about every ``every`` seconds, and the last."""
    out, next_t = [], 0.0
    for t, mib in series:
        if t >= next_t:
            out.append((t, mib))
            next_t = t + every
    if series and out[-1][0] != series[-1][0]:
        out.append(tuple(series[-1]))
    return ", ".join(f"{t:.0f} s {mib:.0f}" for t, mib in out)


def _pair(d: dict) -> str:
    return f"{fmt(d.get('p50_s'), 1)} / {fmt(d.get('p95_s'), 1)}"


def _folder_of(option: re.Match) -> str:
    """An option's absolute path as what it held in that run: a copy of the app or of the weights."""
    return f"{option[1]} " + {"--app-root": "COPY_OF_THE_APP", "--weights-dir": "COPY_OF_THE_WEIGHTS"}.get(option[1], "FOLDER")


def build_loadtest(weights_dir: Path) -> str:
    """Markdown figures from ``loadtest.json`` (written by ``python -m tools.loadtest``): per
    configuration the sessions, times to result (p50/p95), errors, mismatches and the server's
    RSS over time; and the check of one model called from several threads at once."""
    r = read_json(Path(weights_dir) / "loadtest.json")
    if not r or not isinstance(r.get("configs"), list) or not r["configs"]:
        return "_Not measured yet: run `python -m tools.loadtest --sessions 1 8 --duration 180`._"
    m, st = r.get("machine") or {}, r.get("settings") or {}
    def day(c: dict) -> str:  # rows kept from earlier runs carry their own date and CPU
        return str(c.get("date") or r.get("date", ""))[:10]

    cpu = {day(c): c.get("cpu_model") or m.get("cpu_model", "?") for c in r["configs"]}
    where = ", ".join(f"{d} on {cpu[d]}" for d in sorted(cpu))
    lines = [f"Measured {where}, {m.get('usable_cores', '?')} cores, "
             f"{m.get('memory_mib', 0) / 1024:.0f} GiB, no GPU (the server, one headless Chromium with every session "
             f"and the load script share these cores); Streamlit {m.get('streamlit', '?')}, TensorFlow "
             f"{m.get('tensorflow', '?')}. Models cycled: {', '.join(f'`{x}`' for x in st.get('models', []))}, "
             f"{st.get('cam_method', 'gradcam')} maps. Each session, in a loop: {st.get('steps', '')}. "
             f"Images: {st.get('images', '')}. A step with no result within {fmt(st.get('timeout_s'), 0)} s is a "
             "timeout. Times run from the action (upload, model picked, threshold moved) to the rendered call of "
             "every image.", "", *md_header(LOADTEST_HEADER)]
    for c in r["configs"]:
        u = c.get("uploads") or {}
        wrong = c.get("mismatches", 0) - c.get("cross_session", 0)
        lines.append(md_row([day(c), str(c.get("app", "")), fmt_count(c.get("sessions")), fmt((c.get("duration_s") or 0) / 60, 0),
                           f"{fmt_count(u.get('completed'))} of {fmt_count(u.get('attempted'))}", fmt(u.get("p50_s"), 1),
                           fmt(u.get("p95_s"), 1), fmt(u.get("max_s"), 1), _pair(c.get("model_switches") or {}),
                           _pair(c.get("threshold_moves") or {}), fmt_count(c.get("errors")), fmt_count(c.get("timeouts")),
                           fmt_count(c.get("cross_session")), fmt_count(wrong),
                           f"{fmt(c.get('rss_warm_mib'), 0)} → {fmt(c.get('rss_end_mib'), 0)}",
                           fmt(c.get("rss_slope_after_warm_mib_per_min"), 1)]))
    lines += ["", "Server RSS over time (the Streamlit process and its children; seconds from `streamlit run`, MiB; "
              "warm-up ends when every session has done one round and every model has answered once):"]
    for c in r["configs"]:
        lines.append(f"- {c.get('app', '')}, {fmt_count(c.get('sessions'))} session(s), warm-up ended at "
                     f"{fmt(c.get('warmup_end_s'), 0)} s: {_rss_points(c.get('rss_series') or [])}.")
    for t in r.get("tf_concurrency") or []:
        if not t.get("finished", True):
            lines += ["", f"One model from several threads: `{t.get('model')}` with {t.get('threads')} threads did not "
                          "finish (a deadlock)."]
            continue
        same = not t.get("exceptions") and t.get("max_abs_diff_p_all") == 0 and t.get("max_abs_diff_maps") == 0
        lines += ["", f"One model from several threads: {t.get('threads')} threads read the same "
                      f"{t.get('images_per_thread')} images with one shared `{t.get('model')}` predictor and Grad-CAM "
                      f"explainer, all starting together before anything was compiled: "
                      + ("the same P(ALL) and maps as a serial reading, no exception" if same else
                         f"differences up to {t.get('max_abs_diff_p_all')} (P(ALL)) and {t.get('max_abs_diff_maps')} "
                         f"(maps), exceptions: {'; '.join(t.get('exceptions') or []) or 'none'}")
                      + f"; {fmt(t.get('concurrent_warm_s'), 2)} s at once against {fmt(t.get('serial_warm_s'), 2)} s "
                        "one after another once compiled."]
    if r.get("command"):
        command = re.sub(r"(--[\w-]+) /\S+", _folder_of, r["command"])  # no path of this machine
        lines += ["", f"Command: `{command}` (figures generated from `model_weights/loadtest.json`)."]
    return "\n".join(lines)
