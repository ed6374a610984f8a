"""The two kinds of work ``screen`` hands to Ray Data, as plain functions and classes (Ray is not
imported here, so they are tested without it):

* :func:`read_and_find` (stateless CPU tasks): a batch of paths -> each file's sha256, its decoded
  image's white cells and crops for every input configuration the models need (pickled
  :class:`~leukemia_core.cells.analyze.FoundCells`), or an error; files every model has already
  scored (by sha256) are not decoded.
* :class:`Classify` (one actor pool per model; the model is loaded once per actor): every crop of
  the batch in one forward pass (chunks of 32), then each image's calibrated reading and its rows,
  exactly those ``predict`` writes (:func:`~leukemia_core.inference.image_row`,
  :func:`~leukemia_core.inference.cell_rows`), as JSON in the column ``r_<model>``.

Batches are dicts of NumPy arrays (Ray Data's ``numpy`` batch format), one entry per image.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..cells.analyze import CropKey, FoundCells, analyze, crop_key, find_and_crop_each
from ..data.images import read_image
from ..errors import ImageReadError
from ..inference import LoadedModel, cell_rows, image_row, threshold_of, unsupported_type
from ..rows import error_row


@dataclass
class ModelPlan:
    """What an actor needs to serve one model, sent from the driver (picklable).

    Attributes:
        name: registry name.
        loaded: input configuration, calibration and manifest (``model`` None).
        weights_sha256: the manifest's weights sha256 (a column of both tables).
        onnx: the ONNX file's bytes (the actors need no weights folder), or None: Keras from ``weights_dir``.
        weights_dir: the weights folder (for Keras; must be readable where the actors run).
        threshold: the ``--threshold`` (None: the model's own).
        profile: the site profile or site model it reads with (its JSON), or None.
    """

    name: str
    loaded: LoadedModel
    weights_sha256: str
    onnx: bytes | None
    weights_dir: str
    threshold: float | None = None
    profile: dict | None = None

    @property
    def profile_label(self) -> str:
        """The profile's name as rows carry it ("" for none; failed site models marked)."""
        from ..verification.profile import SiteProfile, profile_label

        return profile_label(SiteProfile.from_json(self.profile)) if self.profile else ""

    @property
    def key(self) -> CropKey:
        """How the model's crops are cut (:func:`~leukemia_core.cells.analyze.crop_key`): models
        sharing it share crops."""
        return crop_key(self.loaded)


def _as_list(col) -> list:
    return [x.item() if isinstance(x, np.generic) else x for x in col]


def cpu_args(cpus: float = 1.0) -> dict:
    """Ray remote arguments of a read task (``cpus`` CPUs). Given as a function on purpose: Ray
    Data then keeps reading in its own tasks instead of fusing it into the first model's actors, so
    reading and the forward pass run on different cores at once (Ray Data never fuses an operator
    that has a ``ray_remote_args_fn``: ``are_op_remote_args_compatible`` in Ray 2.58)."""
    return {"num_cpus": cpus}


def read_and_find(batch: dict, keys: list[CropKey], done_everywhere: set[str] | None = None) -> dict:
    """Read, hash, decode and find the cells of every path in ``batch["path"]``.

    Args:
        keys: the :class:`~leukemia_core.cells.analyze.CropKey` of each model to crop for.
        done_everywhere: file sha256s every model has scored already (not decoded again).

    Returns:
        ``{"path", "file_sha256", "error", "found", "skip"}``: ``found`` the pickled
        ``{key: FoundCells}`` (``b""`` on error or skip); ``skip`` True when already scored.
    """
    import cv2

    cv2.setNumThreads(1)  # one core per task: Ray runs as many tasks as it has CPUs
    done_everywhere = _fetched(done_everywhere) or set()
    out = {"path": [], "file_sha256": [], "error": [], "found": [], "skip": []}
    for path in _as_list(batch["path"]):
        sha, err, found, skip = "", "", b"", False
        p = Path(path)
        try:
            data = p.read_bytes()
            sha = hashlib.sha256(data).hexdigest()
            skip = sha in done_everywhere
            err = unsupported_type(p)
            if not skip and not err:
                rgb = read_image(data)
                found = pickle.dumps(find_and_crop_each(rgb, keys), protocol=5)
        except ImageReadError as exc:
            err = f"{path}: {exc}" if str(path) not in str(exc) else str(exc)
        except OSError as exc:
            err = f"{path}: cannot read ({exc.strerror or exc})"
        except Exception as exc:  # noqa: BLE001 - a bad file is an error row, never a failed job
            err = f"{path}: {type(exc).__name__}: {exc}"
        out["path"].append(str(path))
        out["file_sha256"].append(sha)
        out["error"].append(err)
        out["found"].append(found)
        out["skip"].append(skip)
    return {"path": np.array(out["path"], dtype=object), "file_sha256": np.array(out["file_sha256"], dtype=object),
            "error": np.array(out["error"], dtype=object), "found": np.array(out["found"], dtype=object),
            "skip": np.array(out["skip"], dtype=bool)}


def _fetched(x):
    """``x``, or the value behind it when it is a Ray object reference (imports Ray only then)."""
    if type(x).__name__ == "ObjectRef":
        import ray

        return ray.get(x)
    return x


class Classify:
    """Ray Data callable class: one model, loaded once per actor (see the module).

    ``__call__(batch)`` returns ``batch`` plus ``r_<model>``: per image a JSON object
    ``{"image": row, "cells": [rows]}`` (``""`` when this model scored the file before).
    """

    def __init__(self, plan: ModelPlan, threads: int | None = 1, done: set[str] | None = None,
                 drop_found: bool = False):  # noqa: D107
        from ..onnx_calls import OnnxForward, OnnxPredictor, fast_predictor

        plan, done = _fetched(plan), _fetched(done)  # sent once through the object store by the driver
        self.plan = plan
        self.done = done or set()
        self.drop_found = drop_found
        if plan.onnx is not None:  # a site model's head is already in these bytes (plan_models)
            self.predictor = OnnxPredictor(plan.loaded, OnnxForward(plan.onnx, threads=threads))
            self.backend = "onnxruntime"
        elif plan.profile:
            from ..adaptation.serve import site_predictor
            from ..verification.profile import SiteProfile

            prof = SiteProfile.from_json(plan.profile)
            base = None if prof.reads_with_encoder else fast_predictor(plan.name, plan.weights_dir)
            self.predictor = site_predictor(base, prof, plan.weights_dir)
            self.backend = "keras"
        else:
            self.predictor = fast_predictor(plan.name, plan.weights_dir)
            self.predictor.loaded = plan.loaded  # the driver's calibration and configuration
            self.backend = "keras"
        self.threshold = threshold_of(self.predictor, plan.threshold)

    def _rows(self, path: str, sha: str, err: str, found: FoundCells | None, p_raw: np.ndarray | None) -> str:
        name = self.plan.name
        extra = {"weights_sha256": self.plan.weights_sha256, "file_sha256": sha, "backend": self.backend,
                 "profile": self.plan.profile_label}
        if found is None:
            return json.dumps({"image": {**error_row(path, name, err), **extra}, "cells": []})
        a = analyze(found, lambda _x, p=p_raw: p, self.plan.loaded.calibration)
        row = image_row(path, name, a, self.threshold)
        cells = [{**c, **extra} for c in cell_rows(row, self.threshold)]
        row.pop("analysis")
        return json.dumps({"image": {**row, **extra}, "cells": cells})

    def __call__(self, batch: dict) -> dict:
        """Score every image of ``batch`` (the output of :func:`read_and_find`) with this model."""
        paths, shas, errs = _as_list(batch["path"]), _as_list(batch["file_sha256"]), _as_list(batch["error"])
        skip = np.asarray(batch["skip"], bool)
        founds: list[FoundCells | None] = [None] * len(paths)
        for i, blob in enumerate(_as_list(batch["found"])):
            if not errs[i] and not skip[i] and shas[i] not in self.done and blob:
                founds[i] = pickle.loads(blob)[self.plan.key]
        todo = [i for i, f in enumerate(founds) if f is not None]
        p_all = self.predictor.predict(np.concatenate([founds[i].crops for i in todo]).astype(np.float32)
                                       / np.float32(255.0)) if todo else np.zeros(0, np.float32)
        offsets = np.cumsum([0] + [len(founds[i].crops) for i in todo])
        p_of = {i: np.asarray(p_all[offsets[k]:offsets[k + 1]], np.float64) for k, i in enumerate(todo)}
        out = []
        for i, path in enumerate(paths):
            if skip[i] or (shas[i] and shas[i] in self.done):
                out.append("")
            elif founds[i] is None:
                out.append(self._rows(path, shas[i], errs[i] or "no cells read", None, None))
            else:
                out.append(self._rows(path, shas[i], "", founds[i], p_of[i]))
        result = {k: v for k, v in batch.items() if not (self.drop_found and k == "found")}
        result[f"r_{self.plan.name}"] = np.array(out, dtype=object)
        return result
