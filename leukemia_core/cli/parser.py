"""The argument parser of ``python -m leukemia_core``: one sub-command per command function."""

from __future__ import annotations

import argparse

from ..models import get_spec, list_models
from ..models.calibration import DEFAULT_THRESHOLD
from ..models.norm import NORMS
from ..models.registry import COLOURS
from ..models.starts import list_starts
from ..training import DEFAULT_SEED
from .commands import (
    cmd_adapt_check,
    cmd_baseline,
    cmd_bench,
    cmd_cam_check,
    cmd_cells_check,
    cmd_size_check,
    cmd_size_fusion,
    cmd_evaluate,
    cmd_models,
    cmd_table,
    cmd_train,
)
from .adapt import add_parsers as add_adapt_parsers
from .cases import add_parsers as add_cases_parsers
from .predict import cmd_predict
from .lymphoid import add_parsers as add_lymphoid_parsers
from .ood import add_parsers as add_ood_parsers
from .pack import add_parsers as add_pack_parsers
from .refer import add_parsers as add_refer_parsers
from .probe import add_parsers as add_probe_parsers
from .screen import add_parsers as add_screen_parsers
from .starts import add_parsers as add_starts_parsers
from .verify import add_parsers as add_verify_parsers


def build_parser() -> argparse.ArgumentParser:
    """The ``argparse`` parser: global ``-q``/``-v`` and one sub-command per command function."""
    p = argparse.ArgumentParser(prog="python -m leukemia_core",
                                description="ALL vs HEM classification of blood-cell images.")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    p.add_argument("-v", "--verbose", dest="verbose_log", action="store_true",
                   help="also TensorFlow's start-up messages and predict's line per image")
    sub = p.add_subparsers(dest="command", required=True)

    def weights_opt(sp):
        sp.add_argument("--weights-dir", default=None,
                        help="folder of shipped weights (default: $LEUKEMIA_WEIGHTS_DIR or model_weights/)")

    sp = sub.add_parser("models", help="list registered models and whether their weights are present")
    weights_opt(sp)
    sp.add_argument("--all", action="store_true", help="include the tiny test models")
    sp.set_defaults(func=cmd_models)

    sp = sub.add_parser("train", help="train a model and export its weights and manifest")
    sp.add_argument("--model", required=True)
    sp.add_argument("--data", action="append",
                    help="dataset folder (C-NMC, Aria or {all,hem}/ layout); repeat for several")
    sp.add_argument("--cells-pack", help="train on the cells of this cells-pack file instead of --data (a machine "
                                         "without the datasets); the pack's datasets go into the manifest")
    sp.add_argument("--val-data", action="append", help="extra folder used only for validation")
    sp.add_argument("--exclude-part", action="append",
                    help="leave out a part, e.g. Segmented (Aria variant) or fold_1; repeatable")
    sizes = ", ".join(f"{n} {get_spec(n).input_size}" for n in list_models())
    sp.add_argument("--input-size", type=int,
                    help=f"square input side in pixels (default: the model's registered size: {sizes})")
    sp.add_argument("--epochs", type=int, default=30)
    sp.add_argument("--batch-size", type=int, default=32)
    sp.add_argument("--lr", type=float, default=1e-3, help="initial Adam learning rate")
    sp.add_argument("--init", default="random",
                    help="random (default); a pretrained start built by 'starts --build' "
                         f"({', '.join(list_starts())}); imagenet (Keras' download: needs the network); or a weights file")
    sp.add_argument("--init-from", help="a .weights.npz written by this project: load every array whose name and "
                                        "shape match (e.g. a trained efficientnet_b0's backbone into proposed)")
    sp.add_argument("--head-epochs", type=int, default=3,
                    help="with a pretrained init: epochs training the head on a frozen backbone first")
    sp.add_argument("--patience", type=int, default=8, help="early-stopping patience (epochs)")
    sp.add_argument("--seed", type=int, default=DEFAULT_SEED)
    sp.add_argument("--steps-per-epoch", type=int,
                    help="batches per epoch (default: as many as there are training cells / batch size)")
    sp.add_argument("--no-augment", action="store_true")
    sp.add_argument("--no-stain-jitter", action="store_true",
                    help="augment without the haematoxylin/eosin stain jitter (an ablation; colour jitter stays)")
    sp.add_argument("--with-surroundings", action="store_true",
                    help="crop each cell with its surroundings instead of on black (the shipped recipe of "
                         "all four models; the manifest records it and every reader of the model crops the "
                         "same way)")
    sp.add_argument("--run-dir", help="checkpoints and history (default runs/<model>)")
    sp.add_argument("--weights-dir", default=None,
                    help="where to export (default: $LEUKEMIA_WEIGHTS_DIR or model_weights/)")
    sp.add_argument("--cache-dir", default="runs/.cache", help="decoded-image cache ('' to disable)")
    sp.add_argument("--resume", action="store_true", help="continue an interrupted run from its checkpoint")
    sp.add_argument("--max-images", type=int, help="use at most this many train (and val) images")
    sp.add_argument("--verbose", type=int, choices=[0, 1, 2], help="Keras progress: 1 bar, 2 line per epoch")
    sp.add_argument("--bn-momentum", type=float, default=0.9,
                    help="batch-norm moving-average momentum when training from random init (default 0.9)")
    sp.add_argument("--norm", choices=NORMS, default="batch",
                    help="the backbone's normalisation: batch norm as built (default) or group norm in its place, "
                         "which normalises each image by its own statistics (the head is kept as built)")
    sp.add_argument("--colour", choices=COLOURS, default="as is",
                    help="'standardised': each crop's colour standardised in L*a*b* inside the model (mean and "
                         "spread of its non-black pixels); 'haematoxylin': the crop's haematoxylin density alone "
                         "(colour deconvolution); either in training and at every reading")
    sp.add_argument("--instance-teacher", metavar="WEIGHTS",
                    help="a trained model's <model>.weights.npz (with its manifest and calibration): leave out "
                         "the cells of Aria ALL fields it calls normal, all but each field's top cell "
                         "(multiple-instance learning for field labels)")
    sp.add_argument("--dataset-share", action="append", metavar="NAME=SHARE",
                    help="share of training batches drawn from a dataset (aria, cnmc, bccd, folder); "
                         "repeatable (default aria=0.55 cnmc=0.3 bccd=0.15)")
    sp.add_argument("--sampling", choices=["dataset", "class"], default="dataset",
                    help="dataset (default): each dataset its share, the classes balanced within it (a dataset "
                         "of normal cells only adds its share to HEM); class: the classes balanced overall, "
                         "the datasets sharing each class's half by their shares")
    sp.set_defaults(func=cmd_train)

    sp = sub.add_parser("evaluate", help="calibrate on validation cells, then write an evaluation report "
                                         "(cell and image metrics, every probability)")
    sp.add_argument("--model", required=True)
    sp.add_argument("--data", action="append", required=True)
    sp.add_argument("--out", required=True, help="REPORT.json")
    sp.add_argument("--splits", nargs="+", default=["train", "val", "test", "unsplit"])
    sp.add_argument("--exclude-part", action="append")
    sp.add_argument("--threshold", type=float,
                    help="call ALL when calibrated P(ALL) >= this (default: the threshold chosen on validation)")
    sp.add_argument("--no-calibrate", action="store_true",
                    help="keep the stored calibration instead of refitting it on the val role's cells")
    sp.add_argument("--cache-dir", default="runs/.cache")
    sp.add_argument("--allow-leakage", action="store_true",
                    help="report test sets even when the model trained or selected on their groups")
    sp.add_argument("--left-out", action="append", metavar="DATASET",
                    help="leave-one-lab-out: score every image of this dataset (cnmc, aria, bccd) as one "
                         "left-out set; the model must have been trained without it; repeatable")
    sp.add_argument("--no-lab-probe", action="store_true",
                    help="skip the lab probe (how well the model's features tell the labs apart)")
    weights_opt(sp)
    sp.set_defaults(func=cmd_evaluate)

    sp = sub.add_parser("predict", help="classify image files or folders into a CSV")
    sp.add_argument("--model", action="append", required=True, help="model name, repeatable, or 'all'")
    sp.add_argument("--out", required=True, help="PRED.csv")
    sp.add_argument("paths", nargs="+", help="image files or folders (searched recursively)")
    sp.add_argument("--threshold", type=float,
                    help="calibrated P(ALL) threshold (default: each model's, chosen on validation cells)")
    sp.add_argument("--cells", help="also write one row per found cell to this CSV")
    sp.add_argument("--cam", help="also write one Grad-CAM overlay (PNG) per cell into this folder")
    sp.add_argument("--cam-method", default="gradcam", choices=["gradcam", "gradcam++", "scorecam"])
    sp.add_argument("--alpha", type=float, default=0.4, help="overlay opacity")
    sp.add_argument("--profile", action="append",
                    help="a site profile (verify) or site model (adapt) to use for its model; a site model on a "
                         "pretrained encoder adds that encoder's reading as one more model; repeatable")
    sp.add_argument("-v", "--verbose", dest="verbose_log", action="store_true", default=argparse.SUPPRESS,
                    help="also TensorFlow's start-up messages and a line per image on stderr")
    weights_opt(sp)
    sp.set_defaults(func=cmd_predict)

    sp = sub.add_parser("baseline", help="colour-only logistic-regression baseline, as a report")
    sp.add_argument("--data", action="append", required=True)
    sp.add_argument("--out", required=True)
    sp.add_argument("--exclude-part", action="append")
    sp.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    sp.add_argument("--cache-dir", default="runs/.cache")
    sp.add_argument("--left-out", action="append", metavar="DATASET",
                    help="leave-one-lab-out: score every image of this dataset with one fit on the other labs' "
                         "training cells; repeatable")
    sp.set_defaults(func=cmd_baseline)

    sp = sub.add_parser("cam-check", help="share of CAM energy on the cell, on test-role cell crops")
    sp.add_argument("--model", action="append", required=True, help="model name, repeatable, or 'all'")
    sp.add_argument("--data", action="append", required=True, help="dataset folder; repeat for several")
    sp.add_argument("--out", required=True)
    sp.add_argument("--cam-method", default="gradcam", choices=["gradcam", "gradcam++", "scorecam"])
    sp.add_argument("--limit", type=int, default=400, help="at most this many cells per dataset")
    sp.add_argument("--cache-dir", default="runs/.cache")
    weights_opt(sp)
    sp.set_defaults(func=cmd_cam_check)

    sp = sub.add_parser("adapt-check", help="measure Reinhard colour matching and batch-norm re-estimation "
                                            "on validation and test cells (mixed and HEM-only batches)")
    sp.add_argument("--model", required=True)
    sp.add_argument("--data", action="append", required=True)
    sp.add_argument("--out", required=True, help="e.g. model_weights/adaptation_<model>.json")
    sp.add_argument("--cache-dir", default="runs/.cache")
    weights_opt(sp)
    sp.set_defaults(func=cmd_adapt_check)

    sp = sub.add_parser("cells-check", help="score the white-cell finder (Aria Segmented references, C-NMC, "
                                            "BCCD boxes) and write contact sheets of the worst images")
    sp.add_argument("--aria", help="the Aria folder (with Original/ and Segmented/)")
    sp.add_argument("--cnmc", help="the C-NMC folder")
    sp.add_argument("--bccd", help="the BCCD folder (JPEGImages/, Annotations/)")
    sp.add_argument("--wbcseg", help="the wbcseg folder (single normal cells of two labs, expert masks)")
    sp.add_argument("--sheets", help="folder for the contact sheets (PNG), e.g. docs/cells_check")
    sp.add_argument("--readme", help="also replace the cells-check block of this README")
    sp.add_argument("--role", default="test", choices=["train", "val", "test"],
                    help="which Aria role to score (default test: the finder was tuned on val)")
    sp.add_argument("--limit", type=int, help="at most this many Aria fields")
    sp.add_argument("--out", required=True, help="e.g. model_weights/cells_check.json")
    sp.set_defaults(func=cmd_cells_check)

    sp = sub.add_parser("size-check", help="each white cell's size in red-cell diameters: the estimate "
                                           "against BCCD's red-cell boxes, by lab and class, and its AUC")
    sp.add_argument("--data", action="append", required=True, help="a data folder (repeatable)")
    sp.add_argument("--role", action="append", choices=["train", "val", "test"],
                    help="roles to measure (repeatable; default test)")
    sp.add_argument("--limit", type=int, help="at most this many images per folder, spread over it")
    sp.add_argument("--out", required=True, help="e.g. model_weights/size_check.json")
    sp.set_defaults(func=cmd_size_check)

    sp = sub.add_parser("size-fusion", help="does a cell's size in red cells add to a model's P(ALL)? fitted on "
                                            "val cells, scored on test cells")
    sp.add_argument("--model", action="append", required=True, help="model name, repeatable, or 'all'")
    sp.add_argument("--data", action="append", required=True, help="a data folder (repeatable)")
    sp.add_argument("--limit", type=int, help="at most this many images per dataset and role, spread over it")
    sp.add_argument("--out", required=True, help="e.g. model_weights/size_fusion.json")
    weights_opt(sp)
    sp.set_defaults(func=cmd_size_fusion)

    sp = sub.add_parser("table", help="results table (Markdown) from the shipped reports")
    sp.add_argument("--readme", help="replace the results (and summary, bench, load-test) blocks of this file")
    weights_opt(sp)
    sp.set_defaults(func=cmd_table)

    sp = sub.add_parser("bench", help="speed benchmark of the prediction, Grad-CAM and training paths")
    sp.add_argument("--out", required=True, help="BENCH.json")
    sp.add_argument("--model", action="append", help="default: all four")
    sp.add_argument("--repeats", type=int, default=20)
    sp.add_argument("--no-app", action="store_true",
                    help="skip the app cold-start measurement (tools/bench_app.py, run after the core figures)")
    weights_opt(sp)
    sp.set_defaults(func=cmd_bench)

    add_verify_parsers(sub, weights_opt)  # verify, verify-kshot (issue 17)
    add_adapt_parsers(sub, weights_opt)  # adapt, adapt-kshot, encoders
    add_starts_parsers(sub, weights_opt)  # starts
    add_screen_parsers(sub, weights_opt)  # export-onnx, screen (issue 20)
    add_pack_parsers(sub)
    add_cases_parsers(sub, weights_opt)  # cases import / list / export (issue 19)
    add_probe_parsers(sub, weights_opt)  # lab-probe
    add_ood_parsers(sub, weights_opt)  # ood
    add_lymphoid_parsers(sub, weights_opt)  # lymphoid-gate
    add_refer_parsers(sub, weights_opt)  # refer-band
    return p
