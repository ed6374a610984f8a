"""``export-onnx`` and ``screen``: the ONNX export of shipped models (:mod:`leukemia_core.onnx_export`)
and archive-scale reading on Ray (:mod:`leukemia_core.screening`).

``screen`` exits 0 when every image was read, 1 when some were error rows (the tables are still
written), 2 for an error a user can cause (no such path, unknown model, missing weights).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from ..models import list_models

log = logging.getLogger("leukemia_core")


def cmd_export_onnx(args) -> int:
    """Export each model to ``<weights-dir>-onnx/<name>.onnx`` with its parity check (``export-onnx``)."""
    from ..inference import weights_status
    from ..onnx_calls import onnx_status
    from ..tfstartup import import_tensorflow

    names = list_models() if args.model == ["all"] else args.model
    if args.missing:
        names = [n for n in names if weights_status(n, args.weights_dir) == "ok"
                 and onnx_status(n, args.weights_dir, verify=True) != "ok"]
        if not names:
            print("every model with weights has a current ONNX file")
            return 0
    import_tensorflow(args.verbose_log)
    from ..onnx_export import export_onnx

    for n in names:
        e = export_onnx(n, args.weights_dir)
        print(f"{n}: {e['file']} ({e['bytes'] / 1e6:.1f} MB), sha256 {e['sha256'][:12]}..., max |P(ALL) ONNX - Keras| "
              f"{e['parity']['max_abs_diff_p_all']:.1e} on {e['parity']['cells']} cells")
    return 0


def cmd_screen(args) -> int:
    """Screen folders or glob patterns on Ray into Parquet (``screen``); print the per-folder summary."""
    from ..screening.pipeline import run_screen, shutdown
    from ..screening.summary import summarise_output

    names = list_models() if args.model == ["all"] else args.model
    out = Path(args.out)
    profiles = {}
    for path in args.profile or []:  # site profiles and site models (verify, adapt), as predict takes them
        from ..errors import LeukemiaCoreError
        from ..verification.profile import load_profile

        prof = load_profile(path)
        if prof.reads_with_encoder and prof.model not in names:
            names = names + [prof.model]
        elif prof.model not in names:
            raise LeukemiaCoreError(f"{path}: site profile {prof.name!r} is for {prof.model}, not one of the "
                                    f"models asked for ({', '.join(names)})")
        if prof.accepted is False:
            log.warning("site model %r FAILED the lab's acceptance criteria; its rows are marked", prof.name)
        profiles[prof.model] = prof

    def on_batch(r):
        if args.verbose_log:
            log.info("%d image rows, %d cell rows written", r.image_rows, r.cell_rows)

    try:
        res = run_screen(args.paths, names, out, args.weights_dir, threshold=args.threshold, address=args.address,
                         num_cpus=args.num_cpus, actors=args.actors, batch_images=args.batch_size,
                         progress=not args.quiet, limit=args.limit, on_batch=on_batch, profiles=profiles)
    finally:
        shutdown()
    summary = summarise_output(out)
    summary.to_csv(out / "summary.csv", index=False)
    if not args.quiet:
        print(summary.to_string(index=False))
    print(f"{res.images} image(s) x {len(names)} model(s) ({', '.join(f'{k}: {v}' for k, v in res.backends.items())}): "
          f"{res.skipped} already scored, {res.image_rows} image rows and {res.cell_rows} cell rows written in "
          f"{res.seconds:.1f} s; {res.error_images} unreadable; tables -> {out}/images, {out}/cells; "
          f"summary -> {out / 'summary.csv'}")
    if res.error_images:
        print(f"warning: {res.error_images} file(s) could not be read; see the error column of {out}/images",
              file=sys.stderr)
        return 1
    return 0


def add_parsers(sub, weights_opt) -> None:
    """Add the ``export-onnx`` and ``screen`` sub-commands to ``sub``."""
    sp = sub.add_parser("export-onnx", help="export models to ONNX (model_weights-onnx/<name>.onnx, sha256 in the "
                                            "manifest) after checking ONNX and Keras P(ALL) agree within 1e-4")
    sp.add_argument("--model", action="append", required=True, help="model name, repeatable, or 'all'")
    sp.add_argument("--missing", action="store_true", help="only models whose ONNX file is missing or stale")
    weights_opt(sp)
    sp.set_defaults(func=cmd_export_onnx)

    sp = sub.add_parser("screen", help="score whole archives on Ray (local by default) into Parquet; resumable")
    sp.add_argument("paths", nargs="+", help="image files, folders (searched recursively) or glob patterns")
    sp.add_argument("--model", action="append", required=True, help="model name, repeatable, or 'all'")
    sp.add_argument("--out", required=True, help="output folder: images/ and cells/ Parquet tables, summary.csv")
    sp.add_argument("--threshold", type=float, help="calibrated P(ALL) threshold (default: each model's)")
    sp.add_argument("--address", help="an existing Ray cluster (e.g. ray://head:10001 or auto); default: a local "
                                      "Ray instance on this machine's cores")
    sp.add_argument("--num-cpus", type=int, help="CPUs of the local instance (default: all)")
    sp.add_argument("--actors", type=int, help="classifier actors per model (default: half the CPUs, shared by the "
                                                     "models; the other half read and find cells)")
    sp.add_argument("--batch-size", type=int, default=32, help="images per batch (bounds memory; default 32)")
    sp.add_argument("--limit", type=int, help="at most this many images (in path order)")
    sp.add_argument("--profile", action="append", help="a site profile (verify) or site model (adapt) for its "
                                                       "model, as predict takes it; repeatable")
    weights_opt(sp)
    sp.set_defaults(func=cmd_screen)
