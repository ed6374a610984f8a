"""Reading what ``model_weights/`` holds, for the dashboard (no Streamlit here).

Everything the app shows as a number comes through this module from a file:

* ``<model>.manifest.json``, ``<model>.history.json``, ``<model>.weights.npz`` (from ``train``),
* ``<model>.report.json`` and ``colour_baseline.report.json`` (from ``evaluate`` / ``baseline``),
* ``cam_check.json`` (from ``cam-check``), ``bench.json`` (from ``bench``),
* ``reference_published.json`` (the reference system's published numbers, kept for context).

A missing file is not an error here: loaders return ``None`` and :func:`how_to_make` gives the
command that produces the file. A file that is present but unreadable raises
:class:`~leukemia_core.errors.LeukemiaCoreError` with a message for a person.

It also holds the per-image steps of the Classify page (decode, explain, tabulate), so they are
tested without a browser, and the lookup of dataset images named in a report (they live in the
user's data folder: ``$LEUKEMIA_DATA`` or the path as stored).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .errors import ImageReadError, LeukemiaCoreError
from .evaluate import REPORT_FORMAT, labels_and_probs
from .images import read_image
from .metrics import compute_metrics, roc_points

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BASELINE = "colour_baseline"
REFERENCE_FILE = "reference_published.json"
CAM_CHECK_FILE = "cam_check.json"
BENCH_FILE = "bench.json"
#: Environment variable naming the folder that holds the datasets (for report images).
DATA_ENV = "LEUKEMIA_DATA"
#: Environment variable restricting the models the app offers (comma-separated names).
APP_MODELS_ENV = "LEUKEMIA_APP_MODELS"
#: Human names of the CAM methods of :mod:`leukemia_core.explain`.
CAM_METHOD_NAMES = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "scorecam": "Score-CAM"}
#: Longest side of the copy of an image shown on a page.
DISPLAY_MAX_SIDE = 768


# --------------------------------------------------------------------------- locations and models

def weights_dir() -> Path:
    """The folder the app reads: ``$LEUKEMIA_WEIGHTS_DIR`` or the project's ``model_weights/``."""
    from .inference import default_weights_dir

    return Path(default_weights_dir())


def app_models() -> list[str]:
    """Models the app offers: ``$LEUKEMIA_APP_MODELS`` (comma list) if set, else the registry's.

    Unregistered names in the variable are dropped; if none is left, the registry's list is used.
    """
    from .models import list_models

    registered = list_models(include_test=True)
    wanted = [n.strip() for n in os.environ.get(APP_MODELS_ENV, "").split(",") if n.strip()]
    chosen = [n for n in wanted if n in registered]
    return chosen or list_models()


def default_model(models: Sequence[str]) -> str | None:
    """``"proposed"`` when offered, else the first model (None for an empty list)."""
    if "proposed" in models:
        return "proposed"
    return models[0] if models else None


def how_to_make(kind: str, name: str = "NAME") -> str:
    """The command that produces a missing file of ``kind``.

    ``kind`` is one of ``weights``, ``report``, ``baseline``, ``cam_check``, ``bench``,
    ``reference``.
    """
    commands = {
        "weights": f"python -m leukemia_core train --model {name} --data /path/to/dataset "
                   f"--weights-dir model_weights   (writes {name}.weights.npz, {name}.manifest.json "
                   f"and {name}.history.json)",
        "report": f"python -m leukemia_core evaluate --model {name} --data DIR "
                  f"--out model_weights/{name}.report.json",
        "baseline": f"python -m leukemia_core baseline --data DIR --out model_weights/{BASELINE}.report.json",
        "cam_check": f"python -m leukemia_core cam-check --model all --data /path/to/aria_all "
                     f"--out model_weights/{CAM_CHECK_FILE}",
        "bench": f"python -m leukemia_core bench --out model_weights/{BENCH_FILE}",
        "reference": f"restore model_weights/{REFERENCE_FILE} from the project's repository",
    }
    return commands[kind]


def missing_what(kind: str, name: str = "", wdir: Path | None = None) -> str:
    """One sentence saying which file of ``kind`` is missing where."""
    wdir = Path(wdir or weights_dir())
    return {
        "weights": f"No trained weights for model '{name}' in {wdir}.",
        "report": f"No evaluation report for model '{name}' in {wdir} (expected {name}.report.json).",
        "baseline": f"No colour-only baseline report in {wdir} (expected {BASELINE}.report.json).",
        "cam_check": f"No Grad-CAM check in {wdir} (expected {CAM_CHECK_FILE}).",
        "bench": f"Speed: not measured yet (no {BENCH_FILE} in {wdir}).",
        "reference": f"The published reference figures are not in {wdir} (expected {REFERENCE_FILE}).",
    }[kind]


def missing_message(kind: str, name: str = "", wdir: Path | None = None) -> str:
    """What is missing where, and the command that produces it."""
    return f"{missing_what(kind, name, wdir)} Produce it with: {how_to_make(kind, name or 'NAME')}"


# --------------------------------------------------------------------------- JSON files

def _read_json(path: Path):
    """Parsed JSON, ``None`` when the file does not exist; raises LeukemiaCoreError when unreadable."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LeukemiaCoreError(f"{path}: unreadable JSON file ({exc})") from None


def load_manifest(name: str, wdir: Path | None = None) -> dict | None:
    """``<name>.manifest.json`` or None."""
    return _read_json(Path(wdir or weights_dir()) / f"{name}.manifest.json")


def load_history(name: str, wdir: Path | None = None) -> pd.DataFrame | None:
    """``<name>.history.json`` as a table, one row per epoch, or None.

    Adds ``step``: the epoch's position over all phases (a pretrained run's ``head`` phase comes
    before ``main``), so curves of both phases draw as one line.
    """
    data = _read_json(Path(wdir or weights_dir()) / f"{name}.history.json")
    if data is None:
        return None
    if not isinstance(data, list):
        raise LeukemiaCoreError(f"{name}.history.json: expected a list of epochs")
    df = pd.DataFrame(data)
    if df.empty:
        return df
    df.insert(0, "step", np.arange(1, len(df) + 1))
    df.insert(0, "model", name)
    return df


def report_path(name: str, wdir: Path | None = None) -> Path:
    return Path(wdir or weights_dir()) / f"{name}.report.json"


def load_report(name: str, wdir: Path | None = None) -> dict | None:
    """``<name>.report.json`` or None; raises LeukemiaCoreError for a file of another format."""
    rep = _read_json(report_path(name, wdir))
    if rep is None:
        return None
    if not isinstance(rep, dict) or rep.get("format") != REPORT_FORMAT:
        raise LeukemiaCoreError(f"{report_path(name, wdir)}: not a {REPORT_FORMAT} report")
    return rep


def report_names(wdir: Path | None = None, models: Sequence[str] | None = None) -> list[str]:
    """Names with a ``.report.json`` in ``wdir``: the given models' order first, the baseline last."""
    wdir = Path(wdir or weights_dir())
    found = sorted(p.name[: -len(".report.json")] for p in wdir.glob("*.report.json")) if wdir.is_dir() else []
    order = list(models or [])
    ranked = [n for n in order if n in found] + [n for n in found if n not in order and n != BASELINE]
    return ranked + ([BASELINE] if BASELINE in found else [])


def load_reports(names: Iterable[str], wdir: Path | None = None) -> tuple[dict[str, dict], list[str]]:
    """Reports by name, and one message per report that could not be read."""
    out, problems = {}, []
    for n in names:
        try:
            rep = load_report(n, wdir)
        except LeukemiaCoreError as exc:
            problems.append(str(exc))
            continue
        if rep is not None:
            out[n] = rep
    return out, problems


def load_reference(wdir: Path | None = None) -> dict | None:
    """``reference_published.json`` (the reference system's published numbers) or None."""
    return _read_json(Path(wdir or weights_dir()) / REFERENCE_FILE)


def load_cam_check(wdir: Path | None = None) -> dict | None:
    """``cam_check.json`` or None."""
    return _read_json(Path(wdir or weights_dir()) / CAM_CHECK_FILE)


def load_bench(wdir: Path | None = None) -> dict | None:
    """``bench.json`` or None."""
    return _read_json(Path(wdir or weights_dir()) / BENCH_FILE)


def short_sha(sha: str | None) -> str:
    return (sha or "")[:12]


def report_is_current(report: dict, manifest: dict | None) -> bool:
    """False when the report was computed from another weights file than the manifest describes."""
    sha = report.get("weights_sha256")
    return sha is None or manifest is None or sha == manifest.get("weights_sha256")


# --------------------------------------------------------------------------- report sets and metrics

def set_keys(report: dict) -> list[str]:
    """Set keys of a report: held-out sets first, C-NMC first within each group, else file order."""
    sets = sorted(report.get("sets", []), key=lambda s: (not s.get("held_out"), not s["key"].startswith("cnmc/")))
    return [s["key"] for s in sets]


def get_set(report: dict, key: str) -> dict | None:
    return next((s for s in report.get("sets", []) if s["key"] == key), None)


def set_caption(report_set: dict) -> str:
    """What a set was measured on: key, description, images and groups."""
    kind = report_set.get("group_kind") or "group"
    role = "held out" if report_set.get("held_out") else "training images"
    return (f"{report_set['key']} ({role}): {report_set.get('description', '')}. "
            f"{report_set.get('n_images', '?')} images from {report_set.get('n_groups', '?')} "
            f"groups ({kind}).")


def sets_table(reports: dict[str, dict]) -> pd.DataFrame:
    """One row per set key found in any report: description, images, groups (from the first report)."""
    rows, seen = [], set()
    for rep in reports.values():
        for s in rep.get("sets", []):
            if s["key"] in seen:
                continue
            seen.add(s["key"])
            rows.append({"set": s["key"], "held out": bool(s.get("held_out")), "images": s.get("n_images"),
                         "groups": s.get("n_groups"), "group kind": s.get("group_kind", ""),
                         "description": s.get("description", "")})
    return pd.DataFrame(rows, columns=["set", "held out", "images", "groups", "group kind", "description"])


def _metric_row(name: str, s: dict) -> dict:
    m = s.get("metrics", {})
    pc = m.get("per_class", {}).get("ALL", {})
    w = m.get("weighted", {})
    return {
        "model": name, "set": s["key"], "held out": bool(s.get("held_out")),
        "images": s.get("n_images"), "groups": s.get("n_groups"),
        "accuracy": m.get("accuracy"), "balanced accuracy": m.get("balanced_accuracy"),
        "sensitivity": m.get("sensitivity"), "specificity": m.get("specificity"),
        "precision (ALL)": pc.get("precision"), "recall (ALL)": pc.get("recall"), "F1 (ALL)": pc.get("f1"),
        "precision (weighted)": w.get("precision"), "recall (weighted)": w.get("recall"),
        "F1 (weighted)": w.get("f1"), "ROC AUC": m.get("roc_auc"), "threshold": m.get("threshold"),
    }


def metrics_table(reports: dict[str, dict], set_key: str | None = None) -> pd.DataFrame:
    """Stored metrics, one row per (model, set); only ``set_key`` when given.

    The colour-only baseline is a row like any model. Values are the reports' own, computed at
    the report's threshold.
    """
    rows = [_metric_row(n, s) for n, rep in reports.items() for s in rep.get("sets", [])
            if set_key is None or s["key"] == set_key]
    cols = list(_metric_row("", {"key": ""}).keys())
    df = pd.DataFrame(rows, columns=cols)
    num = [c for c in cols if c not in ("model", "set", "held out")]
    df[num] = df[num].apply(pd.to_numeric, errors="coerce")
    return df


def datasets_of(reports: dict[str, dict]) -> list[str]:
    """Dataset prefixes of the set keys (``cnmc``, ``aria-original`` ...): ``cnmc`` first, then as seen."""
    out: list[str] = []
    for rep in reports.values():
        for s in rep.get("sets", []):
            d = s["key"].split("/")[0]
            if d not in out:
                out.append(d)
    return sorted(out, key=lambda d: d != "cnmc")


def reference_label(reference: dict | None) -> str:
    """How published figures are labelled wherever they are shown."""
    src = (reference or {}).get("label") or "published (reference system)"
    return src


def accuracy_by_split(reports: dict[str, dict], dataset: str, reference: dict | None = None) -> pd.DataFrame:
    """Accuracy on ``<dataset>/train`` and the held-out sets of ``dataset``, per model.

    With ``reference``, the published training and validation accuracies are added as rows whose
    ``source`` says they are published figures on another split.
    """
    rows = []
    for name, rep in reports.items():
        for s in rep.get("sets", []):
            ds, split = s["key"].split("/", 1) if "/" in s["key"] else (s["key"], "")
            if ds != dataset:
                continue
            rows.append({"model": name, "split": split, "accuracy": s["metrics"].get("accuracy"),
                         "source": "this project", "set": s["key"], "images": s.get("n_images"),
                         "groups": s.get("n_groups")})
    if reference:
        label = reference_label(reference)
        for name, figs in reference.get("models", {}).items():
            for split, field in (("train", "train_accuracy"), ("val", "val_accuracy")):
                if figs.get(field) is not None:
                    rows.append({"model": name, "split": split, "accuracy": float(figs[field]),
                                 "source": label, "set": reference.get("dataset", ""), "images": None,
                                 "groups": None})
    return pd.DataFrame(rows, columns=["model", "split", "accuracy", "source", "set", "images", "groups"])


def reference_table(reference: dict | None) -> pd.DataFrame:
    """Published figures as a table (empty without a reference file)."""
    rows = [{"model": n, "train accuracy": f.get("train_accuracy"), "validation accuracy": f.get("val_accuracy")}
            for n, f in (reference or {}).get("models", {}).items()]
    return pd.DataFrame(rows, columns=["model", "train accuracy", "validation accuracy"])


def roc_curves(reports: dict[str, dict], set_key: str) -> dict[str, dict]:
    """ROC points per model on ``set_key`` from the stored per-image probabilities.

    Returns ``{model: {"fpr", "tpr", "auc"}}``; models without that set or with one class only
    are left out.
    """
    out = {}
    for name, rep in reports.items():
        s = get_set(rep, set_key)
        if s is None or not s.get("images"):
            continue
        y, p = labels_and_probs(s)
        pts = roc_points(y, p)
        if not pts["fpr"]:
            continue
        out[name] = {"fpr": pts["fpr"], "tpr": pts["tpr"], "auc": s["metrics"].get("roc_auc")}
    return out


def confusion_at(report_set: dict, threshold: float) -> dict:
    """Metrics of ``report_set`` recomputed at ``threshold`` from its stored probabilities.

    Returns :func:`~leukemia_core.metrics.compute_metrics`'s dict plus ``counts`` (2x2 array,
    rows true HEM/ALL, columns predicted HEM/ALL) and ``rates`` (each row divided by its total;
    NaN for a class without images).
    """
    y, p = labels_and_probs(report_set)
    m = compute_metrics(y, p, threshold)
    counts = np.asarray(m["confusion_matrix"], float)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.where(totals > 0, counts / np.where(totals > 0, totals, 1), np.nan)
    m["counts"] = counts.astype(int)
    m["rates"] = rates
    return m


def misclassified(report_set: dict, threshold: float) -> pd.DataFrame:
    """Images the model gets wrong at ``threshold``, most confident mistakes first.

    Columns: path, true, predicted, p_all, group, subclass, part, confidence (distance of P(ALL)
    from the threshold).
    """
    rows = []
    for img in report_set.get("images", []):
        true = img["label"].upper()
        pred = call_of(img["p_all"], threshold)
        if pred != true:
            rows.append({"path": img["path"], "true": true, "predicted": pred, "p_all": img["p_all"],
                         "group": img.get("group", ""), "subclass": img.get("subclass", ""),
                         "part": img.get("part", ""), "confidence": abs(img["p_all"] - threshold)})
    df = pd.DataFrame(rows, columns=["path", "true", "predicted", "p_all", "group", "subclass", "part",
                                     "confidence"])
    return df.sort_values("confidence", ascending=False, kind="stable").reset_index(drop=True)


def resolve_image(stored: str, data_roots: Sequence[str] = (), data_env: str | None = None) -> Path | None:
    """Find an image named in a report on this machine, or None.

    Tries, in order: the path as stored (absolute, or relative to the working directory and to the
    project); then, under ``$LEUKEMIA_DATA`` (or ``data_env``): the path relative to the data
    folder the report was made from (with and without that folder's own name), and the stored
    path's trailing parts, longest first.
    """
    p = Path(stored)
    cands = [p] if p.is_absolute() else [Path.cwd() / p, PROJECT_ROOT / p]
    base = data_env if data_env is not None else os.environ.get(DATA_ENV, "")
    if base:
        root = Path(base).expanduser()
        for d in data_roots:
            dp = Path(d)
            try:
                rel = p.relative_to(dp)
            except ValueError:
                continue
            cands += [root / rel, root / dp.name / rel]
        parts = p.parts[1:] if p.is_absolute() else p.parts
        parts = tuple(x for x in parts if x not in ("..", "."))
        cands += [root.joinpath(*parts[i:]) for i in range(max(0, len(parts) - 6), len(parts))]
    for c in cands:
        if c.is_file():
            return c
    return None


def data_hint(report: dict | None = None) -> str:
    """Where to point ``$LEUKEMIA_DATA`` so that report images are found."""
    roots = ", ".join((report or {}).get("data", [])) or "the dataset folder"
    now = os.environ.get(DATA_ENV)
    state = f"It is now {now!r}." if now else "It is not set."
    return (f"The image files of this report are not reachable from here. Set the environment variable "
            f"{DATA_ENV} to the folder that holds the data the report was made from ({roots}), "
            f"then restart the app. {state}")


# --------------------------------------------------------------------------- model facts

def model_facts(names: Sequence[str], wdir: Path | None = None) -> pd.DataFrame:
    """One row per model with a manifest: parameters, file size, input size, training facts."""
    wdir = Path(wdir or weights_dir())
    rows = []
    for n in names:
        man = load_manifest(n, wdir)
        if man is None:
            continue
        tr = man.get("training", {})
        wfile = wdir / man.get("weights_file", f"{n}.weights.npz")
        sel = tr.get("selected_epoch") or {}
        rows.append({
            "model": n, "description": man.get("description", ""), "parameters": man.get("params"),
            "file MB": round(wfile.stat().st_size / 2**20, 2) if wfile.is_file() else None,
            "input size": man.get("input_size"), "init": man.get("init"),
            "epochs run": tr.get("epochs_run"), "epochs max": tr.get("epochs_max"),
            "selected epoch": sel.get("epoch"),
            "training minutes": round(tr["seconds"] / 60, 1) if tr.get("seconds") is not None else None,
            "seed": tr.get("seed"), "commit": short_sha(man.get("commit")), "date": man.get("date"),
        })
    return pd.DataFrame(rows, columns=["model", "description", "parameters", "file MB", "input size", "init",
                                       "epochs run", "epochs max", "selected epoch", "training minutes",
                                       "seed", "commit", "date"])


def training_data_table(name: str, wdir: Path | None = None) -> pd.DataFrame:
    """Image counts and groups per split the model's manifest records."""
    man = load_manifest(name, wdir) or {}
    tr = man.get("training", {})
    rows = []
    for role in ("train", "val"):
        summ = tr.get(role) or {}
        for key, count in (summ.get("images") or {}).items():
            rows.append({"used for": role, "dataset/split/label": key, "images": count})
        for key, count in (summ.get("groups") or {}).items():
            rows.append({"used for": role, "dataset/split/label": f"{key} (groups)", "images": count})
    return pd.DataFrame(rows, columns=["used for", "dataset/split/label", "images"])


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + " "))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[key] = v
        elif isinstance(v, str) and len(v) < 40:
            out[key] = v
    return out


def per_model_table(data: dict | None, names: Sequence[str] | None = None) -> pd.DataFrame:
    """Top-level figures per model from a ``{"models": {name: {...}}}`` file (bench, cam check).

    Nested detail (a bench ``profile``, per-image lists) is left out. A list of rows with a
    ``model`` field is also accepted. Empty without data.
    """
    if not data:
        return pd.DataFrame()
    models = data.get("models", data.get("results"))
    rows = []
    if isinstance(models, dict):
        rows = [{"model": n, **{k: x for k, x in v.items() if not isinstance(x, (dict, list))}}
                for n, v in models.items() if isinstance(v, dict)]
    elif isinstance(models, list):
        rows = [{"model": r.get("model", ""), **_flatten({k: v for k, v in r.items() if k != "model"})}
                for r in models if isinstance(r, dict)]
    df = pd.DataFrame(rows)
    if names is not None and not df.empty:
        df = df[df["model"].isin(list(names) + [BASELINE])]
    return df.reset_index(drop=True)


# --------------------------------------------------------------------------- Classify page steps

@dataclass
class ImageInput:
    """One image to classify: a display name and its bytes (kept in memory, never on disk)."""

    name: str
    data: bytes

    @cached_property
    def digest(self) -> str:
        """sha256 of the bytes: the key of this image's results."""
        return hashlib.sha256(self.data).hexdigest()


def decode(item: ImageInput) -> tuple[np.ndarray | None, str]:
    """``(rgb, "")`` or ``(None, message)`` for an unreadable file."""
    buf = io.BytesIO(item.data)
    buf.name = item.name
    try:
        return read_image(buf), ""
    except ImageReadError as exc:
        return None, str(exc)


def make_explainer(loaded, method: str, scorecam_channels: int = 64):
    """An :class:`~leukemia_core.explain.Explainer` for a loaded model.

    Score-CAM uses at most ``scorecam_channels`` channels (the Explainer caps this at the number
    the explained layer has).
    """
    from .explain import Explainer

    return Explainer(loaded.model, loaded.cam_layer, method, scorecam_max_n=scorecam_channels)


def explain_image(rgb: np.ndarray, predictor, explainer, threshold: float = 0.5) -> tuple[float, np.ndarray]:
    """P(ALL) and the CAM (``float32 (S, S)`` in [0, 1], on the padded square input) of one image.

    The map explains the class the image is called at ``threshold``: ALL evidence for an ALL call,
    HEM evidence for a HEM call (a second pass only for HEM calls).
    """
    p, maps = explainer.explain_called(predictor.prepare(rgb), threshold)
    return float(p[0]), np.asarray(maps[0], np.float32)


def heatmap_on_image(heatmap: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """See :func:`leukemia_core.explain.heatmap_on_image` (imported lazily: it pulls in Keras)."""
    from .explain import heatmap_on_image as to_image

    return to_image(heatmap, shape)


def display_copy(rgb: np.ndarray, max_side: int = DISPLAY_MAX_SIDE) -> np.ndarray:
    """A copy small enough to show (aspect kept); the image itself when already small."""
    import cv2

    h, w = rgb.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return rgb
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def call_of(p_all: float | None, threshold: float) -> str:
    """``"ALL"``/``"HEM"``, or ``""`` without a probability."""
    from .inference import label_of

    return "" if p_all is None else label_of(p_all, threshold)


def results_frame(rows: Sequence[dict], threshold: float) -> pd.DataFrame:
    """Classify results table from rows ``{image, model, p_all, error}``: one row per (image, model)."""
    out = [{"image": r["image"], "model": r["model"], "call": call_of(r.get("p_all"), threshold),
            "P(ALL)": None if r.get("p_all") is None else round(float(r["p_all"]), 4),
            "error": r.get("error", "")} for r in rows]
    df = pd.DataFrame(out, columns=["image", "model", "call", "P(ALL)", "error"])
    df["P(ALL)"] = pd.to_numeric(df["P(ALL)"], errors="coerce")
    return df


def results_csv(df: pd.DataFrame, threshold: float) -> bytes:
    """The results table as CSV bytes, with the threshold used in its own column."""
    out = df.copy()
    out.insert(3, "threshold", threshold)
    return out.to_csv(index=False).encode("utf-8")
