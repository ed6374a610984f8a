"""``screen``: archive-scale reading on Ray Data, streaming into Parquet, resumable.

The pipeline (:func:`run_screen`)::

    paths (folders searched, glob patterns expanded, on the driver)
      -> map_batches(read_and_find)            CPU tasks: read, sha256, decode, find and crop cells
      -> map_batches(Classify, per model)      one actor pool per model, the model loaded once per actor
      -> iter_batches on the driver            each batch written as one part file of images/ and cells/

Ray Data's streaming executor keeps a bounded number of batches in flight (back-pressure), so
memory depends on the batch size and the number of workers, not on the archive. The driver
writes: results are small (rows, no crops) and each part file is whole once renamed, so an
interrupted run keeps everything written so far. A rerun reads the tables back
(:func:`~leukemia_core.rows.scored`) and skips every file whose sha256 a model has
already scored with the same weights. A file that cannot be read or decoded is an error row for
every model; no file fails the job.

By default a local Ray instance is started on this machine's cores (``ray.init()``: no set-up);
``address`` joins an existing cluster (``ray start --head`` on one machine, ``ray start --address``
on the others; see docs/scaling.md). The ONNX bytes travel to the actors through Ray's object
store, so no node needs the weights folder when every model has its ONNX export.
"""

from __future__ import annotations

import glob
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Sequence

from ..errors import LeukemiaCoreError
from ..inference import expand_paths
from ..paths import PROJECT_ROOT, weights_dir_or_default
from .stages import Classify, ModelPlan, cpu_args, read_and_find
from ..rows import scored, write_part

log = logging.getLogger(__name__)

#: Images per batch (one forward pass per model over all their crops, one part file per batch).
BATCH_IMAGES = 32


@dataclass
class ScreenResult:
    """What a run did: images seen, skipped (scored before), written rows, seconds, part files."""

    images: int = 0
    skipped: int = 0
    image_rows: int = 0
    cell_rows: int = 0
    error_images: int = 0
    seconds: float = 0.0
    parts: list[str] = field(default_factory=list)
    backends: dict[str, str] = field(default_factory=dict)


def list_inputs(inputs: Sequence[str]) -> list[Path]:
    """Files given, folders searched recursively (as ``predict`` does), glob patterns (``**``
    allowed) expanded; sorted, duplicates removed.

    Raises:
        LeukemiaCoreError: a path that does not exist and is no pattern, or nothing found.
    """
    paths: list[Path] = []
    for item in inputs:
        if glob.has_magic(item):
            hits = sorted(glob.glob(item, recursive=True))
            paths += expand_paths(hits)
        elif Path(item).exists():
            paths += expand_paths([item])
        else:
            raise LeukemiaCoreError(f"no such file or folder: {item}")
    out = sorted(set(paths))
    if not out:
        raise LeukemiaCoreError("no image files found in " + ", ".join(inputs))
    return out


def plan_models(names: Sequence[str], weights_dir=None, threshold: float | None = None,
                profiles: dict | None = None) -> list[ModelPlan]:
    """One :class:`ModelPlan` per model: ONNX bytes when its export is current (and ONNX is on),
    else a Keras plan. Reads manifests and calibrations only (no TensorFlow here).

    ``profiles``: site profiles or site models by model name (checked against the weights here);
    a site model's head goes into the ONNX bytes, and a site model on a pretrained encoder is a
    Keras plan of its own.
    """
    from dataclasses import replace

    from ..inference import LoadedModel
    from ..models.card import resolve_card
    from ..onnx_calls import load_onnx_predictor, onnx_enabled, onnx_status

    wdir = weights_dir_or_default(weights_dir)
    profiles = dict(profiles or {})
    plans = []
    for n in names:
        prof = profiles.get(n)
        if prof is not None and prof.reads_with_encoder:
            from ..adaptation.encoders import encoder_status

            status = encoder_status(n, wdir)
            if status != "ok":
                raise LeukemiaCoreError(f"site model {prof.name!r}: {status}")
            from ..adaptation.serve import encoder_reading

            loaded = encoder_reading(prof)
            plans.append(ModelPlan(n, loaded, prof.weights_sha256, None, str(wdir), threshold, prof.to_json()))
            continue
        card = resolve_card(n, wdir, require_manifest=True)
        if prof is not None:
            prof.check(n, card.manifest.get("weights_sha256"))
        if onnx_enabled() and onnx_status(n, wdir, card.manifest) == "ok":
            pred = load_onnx_predictor(n, wdir)  # checks the sha256 and the calibration once, here
            data = card.paths.onnx.read_bytes()
            loaded = pred.loaded
            if prof is not None and prof.is_site_model:
                from ..models.site_head import Head
                from ..adaptation.serve import logits_weights, patched_onnx

                data = patched_onnx(data, *logits_weights(n, wdir), Head.from_json(prof.head))
        else:
            data = None
            loaded = LoadedModel.from_card(card)  # refuses a calibration fitted on other weights
        if prof is not None:
            loaded = replace(loaded, calibration=prof.calibration)
        plans.append(ModelPlan(n, loaded, str(card.sha256.get("weights", "")), data, str(wdir), threshold,
                               prof.to_json() if prof is not None else None))
    return plans


def default_actors(cpus: float, n_models: int) -> int:
    """Actors per model when ``--actors`` is not given: half the cluster's CPUs serve the forward
    passes, shared by the models (at least one actor each), and the other half read and find cells.
    On Aria fields with ``proposed`` on ONNX Runtime the two stages cost the same order of CPU
    time per image; reserving CPUs for the actors alone (all but one) would leave a single read
    task running in the whole cluster, however many machines it has."""
    return max(1, int(round(cpus / 2)) // max(1, n_models))


def cpu_shares(cpus: float, n_actors_total: int) -> tuple[float, float]:
    """``(CPUs per read task, CPUs per actor)`` on a cluster of ``cpus`` CPUs.

    An actor holds its share for the whole run, so the shares must leave room for reading or the
    read tasks would never be scheduled: on one CPU both take fractions of it (they then time-share
    the core), otherwise a read task takes one CPU and the actors split what is left (at most one
    each)."""
    read = 1.0 if cpus >= 2 else cpus / 2
    actor = max(0.1, min(1.0, (cpus - read) / max(1, n_actors_total)))
    return read, actor


def init_ray(address: str | None = None, num_cpus: int | None = None, quiet: bool = True):
    """Start (or join, with ``address``) Ray; returns the ``ray`` module. Workers can import this
    package: on a local instance through ``PYTHONPATH``, on a cluster through ``py_modules``."""
    import ray

    if ray.is_initialized():
        return ray
    env = {"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore::DeprecationWarning"}}
    if address:
        env["py_modules"] = [str(PROJECT_ROOT / "leukemia_core")]
    else:
        env["env_vars"]["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH"))
                                                       if p)
    kwargs = {"address": address, "runtime_env": env, "include_dashboard": False,
              "logging_level": logging.WARNING if quiet else logging.INFO, "log_to_driver": not quiet}
    if not address:
        kwargs["num_cpus"] = num_cpus or os.cpu_count()
    ray.init(**kwargs)
    return ray


def run_screen(inputs: Sequence[str], names: Sequence[str], out: Path, weights_dir=None, *,
               threshold: float | None = None, address: str | None = None, num_cpus: int | None = None,
               actors: int | None = None, batch_images: int = BATCH_IMAGES, progress: bool = True,
               limit: int | None = None, on_batch: Callable[[ScreenResult], None] | None = None,
               profiles: dict | None = None) -> ScreenResult:
    """Score every image of ``inputs`` with every model of ``names`` into ``out`` (see the module).

    Args:
        actors: actors per model (default: :func:`default_actors`, half the cluster's CPUs
            shared among the models, at least one each).
        batch_images: images per batch (memory grows with it, not with the archive).
        limit: stop after this many images (tests, interrupted-run checks).
        on_batch: called with the running totals after each part file.
        profiles: site profiles or site models by model name (:func:`plan_models`); a model read
            with one is scored again even where it scored the file before without it.

    Returns:
        the run's :class:`ScreenResult`.
    """
    t0 = time.perf_counter()
    out = Path(out)
    paths = list_inputs(inputs)
    if limit is not None:
        paths = paths[:limit]
    plans = plan_models(names, weights_dir, threshold, profiles)
    done = scored(out)
    per_model = {p.name: set() if p.profile else done.get((p.name, p.weights_sha256), set()) for p in plans}
    everywhere = set.intersection(*per_model.values()) if per_model else set()
    res = ScreenResult(images=len(paths), backends={p.name: "onnxruntime" if p.onnx else "keras" for p in plans})
    ray = init_ray(address, num_cpus)
    from ray.data import DataContext

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = progress
    ctx.enable_operator_progress_bars = progress
    cpus = float(ray.cluster_resources().get("CPU", 1))
    n_actors = actors or default_actors(cpus, len(plans))
    read_cpus, actor_cpus = cpu_shares(cpus, n_actors * len(plans))
    keys = sorted({p.key for p in plans})
    done_ref, ds = ray.put(everywhere), ray.data.from_items([{"path": str(p)} for p in paths])
    ds = ds.map_batches(read_and_find, batch_size=batch_images, batch_format="numpy", num_cpus=read_cpus,
                        ray_remote_args_fn=partial(cpu_args, read_cpus),
                        fn_kwargs={"keys": keys, "done_everywhere": done_ref})
    for i, plan in enumerate(plans):
        # ONNX Runtime threads per actor: the cluster's CPUs per actor (at most 4); more than the
        # actor reserves, on purpose: the read tasks' cores are idle whenever reading waits on them
        threads = max(1, min(4, int(cpus) // max(1, n_actors * len(plans))))
        ds = ds.map_batches(Classify, batch_size=batch_images, batch_format="numpy", concurrency=n_actors,
                            num_cpus=actor_cpus, fn_constructor_kwargs={"plan": ray.put(plan), "threads": threads,
                                                               "done": ray.put(per_model[plan.name]),
                                                               "drop_found": i == len(plans) - 1})
    import json

    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        images, cells = [], []
        res.skipped += int(sum(bool(s) for s in batch["skip"]))
        res.error_images += sum(1 for e in batch["error"] if e)
        for plan in plans:
            for blob in batch[f"r_{plan.name}"]:
                if blob:
                    r = json.loads(blob)
                    images.append(r["image"])
                    cells.extend(r["cells"])
        for table, rows in (("images", images), ("cells", cells)):
            part = write_part(out, table, rows)
            if part:
                res.parts.append(str(part))
        res.image_rows += len(images)
        res.cell_rows += len(cells)
        if on_batch:
            on_batch(res)
    res.seconds = time.perf_counter() - t0
    return res


def shutdown() -> None:
    """Stop the Ray instance this process started or joined (no-op when none)."""
    if "ray" in sys.modules:
        import ray

        if ray.is_initialized():
            ray.shutdown()
