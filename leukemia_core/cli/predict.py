"""``python -m leukemia_core predict``: classify images (every white cell of each), write one CSV
row per image and model, optionally one row per cell and one overlay per cell.

Exit status: 0 when every input was classified, 1 when some could not be read (the CSV is still
written, with those rows' ``error`` filled), 2 when a named path does not exist or no input could
be read at all.
"""

from __future__ import annotations

import csv
import logging
import sys
from pathlib import Path

import numpy as np

from ..errors import LeukemiaCoreError
from ..explain import create_explainer
from ..rows import CELL_COLUMNS, IMAGE_COLUMNS
from ..explain.maps import heatmap_on_image
from ..explain.overlay import overlay
from ..inference import cell_rows, expand_paths, load_model, predict_files
from ..models import get_spec, list_models
from ..models.weights import read_manifest
from ..adaptation.serve import site_predictor
from ..onnx_calls import fast_predictor, onnx_status
from ..tfstartup import import_tensorflow
from ..verification.profile import load_profile, profile_label

log = logging.getLogger("leukemia_core")


def encoder_status_or_raise(prof, weights_dir) -> None:
    """Raise :class:`LeukemiaCoreError` when the encoder a site model reads is not built here."""
    from ..adaptation.encoders import encoder_status

    status = encoder_status(prof.model, weights_dir)
    if status != "ok":
        raise LeukemiaCoreError(f"site model {prof.name!r}: {status}")


def cmd_predict(args) -> int:
    """Classify images cell by cell (``predict``); write the CSV(s) and maps; return the exit status (see the module)."""

    names = list_models() if args.model == ["all"] else args.model
    for n in names:  # cheap checks first: model names and manifests, then the inputs, then TensorFlow
        get_spec(n)
        read_manifest(n, args.weights_dir)
    profiles = {}  # site profiles and models (verify, adapt): checked against the weights before TensorFlow loads
    for path in getattr(args, "profile", None) or []:
        prof = load_profile(path)
        if prof.reads_with_encoder:  # a site model on a pretrained encoder reads as a model of its own
            encoder_status_or_raise(prof, args.weights_dir)
            if prof.model not in names:
                names = names + [prof.model]
        elif prof.model not in names:
            raise LeukemiaCoreError(f"{path}: site profile {prof.name!r} is for {prof.model}, not one of the "
                                    f"models asked for ({', '.join(names)})")
        else:
            prof.check(prof.model, (read_manifest(prof.model, args.weights_dir) or {}).get("weights_sha256"))
        if prof.accepted is False:
            log.warning("site model %r FAILED the lab's acceptance criteria; its calls are marked in the CSV", prof.name)
        profiles[prof.model] = prof
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        raise LeukemiaCoreError("no such file or folder: " + ", ".join(missing))
    paths = expand_paths(args.paths)
    if not paths:
        raise LeukemiaCoreError("no image files found in " + ", ".join(args.paths))
    cam_dir = Path(args.cam) if args.cam else None
    # calls run on ONNX Runtime where the model's ONNX export is current (leukemia_core.onnx_calls);
    # TensorFlow is loaded only for the maps (--cam) or for a model without one
    served = [n for n in names if not (n in profiles and profiles[n].reads_with_encoder)]
    if cam_dir or len(served) < len(names) or not all(onnx_status(n, args.weights_dir) == "ok" for n in served):
        import_tensorflow(args.verbose_log)
    predictors = {}
    for n in names:  # the site profile or site model, if any, decides how each model reads (one place)
        base = fast_predictor(n, args.weights_dir) if n in served else None
        predictors[n] = site_predictor(base, profiles.get(n), args.weights_dir)
    loaded = {n: p.loaded for n, p in predictors.items()}
    explainers = {}
    if cam_dir:
        cam_dir.mkdir(parents=True, exist_ok=True)
        keras = {n: m.model if m.model is not None else load_model(n, args.weights_dir).model for n, m in loaded.items()}
        explainers = {n: create_explainer(keras[n], m.cam_layer, args.cam_method) for n, m in loaded.items()}
    cell_csv = None
    cell_fields = CELL_COLUMNS + (["cam"] if cam_dir else [])
    if args.cells:
        Path(args.cells).parent.mkdir(parents=True, exist_ok=True)
        cell_csv = open(args.cells, "w", newline="")
        cell_writer = csv.DictWriter(cell_csv, fieldnames=cell_fields, extrasaction="ignore")
        cell_writer.writeheader()

    def on_result(row, rgb):
        a = row.get("analysis")
        thr = row["cell_threshold"] if row["cell_threshold"] != "" else None  # as written (4 decimals)
        row["profile"] = profile_label(profiles.get(row["model"]))
        cells = cell_rows(row, thr) if a is not None else []
        for c in cells:
            c["profile"] = row["profile"]
        if cam_dir and a is not None:
            import cv2

            x = a.crops.astype(np.float32) / 255.0
            _, maps = explainers[row["model"]].explain_called(x, a.calibration.raw_threshold(thr))
            stem = f"{Path(row['path']).stem}.{row['model']}.{args.cam_method.replace('+', 'p')}"
            for i, m in enumerate(maps):
                big = cv2.resize(a.crops[i], (160, 160), interpolation=cv2.INTER_CUBIC)
                picture = overlay(big, heatmap_on_image(m, big.shape[:2]), alpha=args.alpha)
                out = cam_dir / (f"{stem}.cell{i + 1:03d}.png" if not a.whole_image else f"{stem}.whole.png")
                cv2.imwrite(str(out), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
                if i < len(cells):
                    cells[i]["cam"] = str(out)
            row["cam"] = str(cam_dir / f"{stem}.*.png")
        if cell_csv is not None:
            for c in cells:
                cell_writer.writerow({k: c.get(k, "") for k in cell_fields})
        if args.verbose_log:
            log.info("%s %s: %s", row["model"], row["path"], row["error"] or
                     f"{row['label']} p_all={row['p_all']} cells={row['n_cells']} blast%={row['blast_pct']}")

    try:
        rows = predict_files(paths, predictors, args.threshold, on_result,
                             {n: profile_label(p) for n, p in profiles.items()})
    finally:
        if cell_csv is not None:
            cell_csv.close()
    fields = IMAGE_COLUMNS + (["cam"] if cam_dir else [])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in fields})
    n_err = sum(1 for r in rows if r["error"])
    print(f"{len(rows)} prediction row(s) for {len(paths)} file(s) x {len(names)} model(s); "
          f"{n_err} error row(s); CSV -> {args.out}")
    failed = len({r["path"] for r in rows if r["error"]})
    if failed == len(paths):
        print(f"error: none of the {len(paths)} input file(s) could be read; see the error column of "
              f"{args.out}", file=sys.stderr)
        return 2
    if failed:
        print(f"warning: {failed} of {len(paths)} input file(s) could not be read; see the error column of "
              f"{args.out}", file=sys.stderr)
        return 1
    return 0
