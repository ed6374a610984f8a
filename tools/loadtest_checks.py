"""What the load test (:mod:`tools.loadtest`) expects each session's page to show, and its check.

The images each session uploads (:func:`image_plan`), the values the core computes for them
(:func:`expected_values`), what one configuration collects (:class:`Run`) and the comparison of a
page read with both (:func:`check_page`, :func:`record_page`).
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: Screenshots, server logs and the cache of expected values.
SHOTS = Path(tempfile.gettempdir()) / "leukemia-loadtest"
#: The Classify page's summary line of one image.
SUMMARY_RE = re.compile(r"^(\S+): image (ALL|HEM|NO CALL)(?: \([^)]*\))? \(mean cell P\(ALL\) ([01]\.\d+), "
                        r"image threshold ([01]\.\d+), "
                        r"cell threshold ([01]\.\d+)\)(?:; (\d+) white cell)?")
#: Largest difference between a shown figure (two decimals) and the core's value.
TOLERANCE = 0.0051


# ---------------------------------------------------------------------------------------------
# images and the values the core computes for them


def pct(xs: list[float], q: float) -> float | None:
    """The ``q`` quantile of ``xs`` (linear between neighbours), None for no values."""
    if not xs:
        return None
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return round(xs[lo] + (xs[hi] - xs[lo]) * (k - lo), 2)


def _spread(files: list[Path], need: int) -> list[Path]:
    """``need`` files taken evenly over ``files`` (cycled when there are fewer)."""
    step = max(1, len(files) // need) if len(files) >= need else 1
    return [files[(i * step) % len(files)] for i in range(need)]


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
    c, a = _spread(cnmc, need), _spread(aria, need)
    return [[(c[s * pairs + k], a[s * pairs + k]) for k in range(pairs)] for s in range(n_sessions)]


def expected_values(files: list[Path], models: list[str], wdir: Path) -> dict:
    """``{(file name, model): {"p": image mean P(ALL), "n": cells (0 = whole image), "reason": why the
    image gets no call ("" when it can), "cells", "counted", "outside": per cell}}`` as the Classify
    page computes them (cached under /tmp by file content and weights)."""
    from leukemia_core.models.weights import read_manifest

    shas = {m: read_manifest(m, wdir)["weights_sha256"] for m in models}
    key = hashlib.sha256(json.dumps([sorted(str(f) for f in files), shas], sort_keys=True).encode()).hexdigest()[:16]
    cache = SHOTS / f"expected-{key}.json"
    if cache.is_file():
        raw = json.loads(cache.read_text())
        return {tuple(k.split("\t")): v for k, v in raw.items()}
    from leukemia_core.cells.analyze import read_cells
    from leukemia_core.explain import create_explainer
    from leukemia_core.inference import Predictor, load_model
    from leukemia_core.reports.inputs import ImageInput, decode

    out = {}
    for m in models:
        loaded = load_model(m, wdir)
        pred, expl = Predictor(loaded), create_explainer(loaded.model, loaded.cam_layer, "gradcam")
        for f in files:
            rgb, err = decode(ImageInput(f.name, f.read_bytes()))
            if err:
                raise RuntimeError(f"{f}: {err}")
            res = read_cells(rgb, pred, expl)
            s = res.summary()
            out[(f.name, m)] = {"p": s["p_all"], "n": s["cells"], "reason": res.image_reason(),
                                "cells": res.p_all.tolist(), "counted": res.counted().tolist(),
                                "outside": [] if res.outside is None else res.outside.tolist()}
    SHOTS.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({f"{k[0]}\t{k[1]}": v for k, v in out.items()}))
    return out


# ---------------------------------------------------------------------------------------------
# what one configuration collects, and the check of a page


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
        """Seconds since the server was started."""
        return round(time.perf_counter() - self.t0, 2)


def _shown_lines(run: Run, md: list[str]) -> dict[str, list[tuple]]:
    """File name -> the summary lines (regex groups) shown under it, for every file name on the page."""
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
    return shown


def _wrong_values(line: tuple, exp: dict, cal, model: str, thr: float) -> list[str]:
    """How one summary line differs from the core's values for its file and ``model`` at ``thr``."""
    m, call, p, ithr, cthr, ncells = line
    want_ithr = cal.image_threshold(thr, exp["n"])
    want_call = "ALL" if exp["p"] >= want_ithr else "HEM"
    if "cells" in exp:  # NO CALL: a degenerate image, or no counted cell with a call at this threshold
        band = cal.band_at(thr) if cal.refer_half_width > 0 else (2.0, 2.0)
        outside = exp["outside"] or [False] * len(exp["cells"])
        called = [c and not (band[0] <= p <= band[1]) and not o
                  for p, c, o in zip(exp["cells"], exp["counted"], outside)]
        if exp["reason"] or not any(called):
            want_call = "NO CALL"
    bad = []
    if m != model:
        bad.append(f"model {m} shown, {model} selected")
    if abs(float(p) - exp["p"]) > TOLERANCE:
        bad.append(f"P(ALL) {p} shown, core {exp['p']:.4f}")
    if abs(float(cthr) - thr) > TOLERANCE:
        bad.append(f"cell threshold {cthr} shown, {thr:.2f} set")
    if abs(float(ithr) - want_ithr) > TOLERANCE:
        bad.append(f"image threshold {ithr} shown, core {want_ithr:.2f}")
    if call != want_call and (want_call == "NO CALL" or call == "NO CALL" or abs(exp["p"] - want_ithr) > 1e-4):
        bad.append(f"call {call} shown, core {want_call}")
    if ncells is not None and int(ncells) != exp["n"]:
        bad.append(f"{ncells} cells shown, core {exp['n']}")
    return bad


def check_page(run: Run, sid: int, state: dict, names: list[str], model: str, thr: float) -> list[dict]:
    """Compare what the page shows with this session's files and the core's values."""
    shown, problems = _shown_lines(run, state["md"]), []
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
        for line in lines:
            bad = _wrong_values(line, run.expected[(name, model)], cal, model, thr)
            if bad:
                problems.append({"kind": "wrong value", "file": name, "model": model, "detail": "; ".join(bad)})
    return problems


def record_page(run: Run, sid: int, step: str, state: dict, names: list[str], model: str, thr: float) -> None:
    """Count a page read after ``step``: exceptions and error boxes as errors, other alerts as
    warnings, and what :func:`check_page` finds as mismatches."""
    for e in state["exc"]:
        run.errors.append({"t": run.now(), "session": sid, "step": step, "kind": "exception", "message": e})
    for a in state["alerts"]:
        if a.startswith(("error", "broken_image")) or "Traceback" in a:
            run.errors.append({"t": run.now(), "session": sid, "step": step, "kind": "error box", "message": a})
        else:
            run.warnings.add(a[:200])
    for prob in check_page(run, sid, state, names, model, thr):
        run.mismatches.append({"t": run.now(), "session": sid, "step": step, **prob})
