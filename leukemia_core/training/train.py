"""Training on white cells: every white cell of every training image, cropped at one scale.

Data roles (see :mod:`leukemia_core.data.datasets`): **train** images give the cells the weights learn
from; **val** cells choose the epoch (best mean ROC AUC over the validation datasets); **test**
images are never read here. Adam with a cosine learning-rate schedule, label smoothing, batches
balanced per dataset and class, augmentation as Keras layers (:mod:`leukemia_core.data.augment`),
early stopping, checkpoints and ``--resume``. Runs on the TensorFlow or JAX backend
(``KERAS_BACKEND=jax``): nothing here uses tf.data.

A run lives in ``run_dir`` (``runs/<model>`` by default, ignored by git)::

    run_dir/backup_<phase>/      Keras BackupAndRestore state (resume after a crash or a stop)
    run_dir/best.weights.h5      weights of the best epoch so far (by validation score)
    run_dir/history.json         one entry per finished epoch, written as it happens
    run_dir/done.json            written when the run ended normally

Export writes ``<model>.weights.npz``, ``<model>.manifest.json`` and ``<model>.history.json`` into
``weights_dir`` (``model_weights/``).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import h5py
import keras
import numpy as np

from ..cells.crop import CELL_SHARE
from ..cells.dataset import CellSet, extract_cells
from ..data.augment import AugmentConfig, make_augmenter
from ..data.datasets import Record, read_many, summarize
from ..data.pipeline import SAMPLING, balanced_batches, predict_array, sample_weights
from ..data.splits import check_leakage, group_keys, select
from ..errors import LeukemiaCoreError
from ..models import create_model, get_spec
from ..models.builders import set_backbone_trainable
from ..models.starts import STARTS, apply_start
from ..models.weights import load_matching_weights, load_weights_into, save_weights_npz, sha256_of
from ..jsonio import write_json
from ..provenance import git_commit
from . import DEFAULT_SEED
from .cellpack import read_pack
from .history import earlier_seconds, write_json_list
from .instances import clean_weak_fields
from .selection import MONITOR_CELLS, cell_datasets, monitor_subset, validation_score  # noqa: F401

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored in the manifest)."""

    model: str
    data: list[str]
    val_data: list[str] = field(default_factory=list)
    exclude_parts: list[str] = field(default_factory=lambda: ["Segmented"])
    input_size: int | None = None
    epochs: int = 30
    steps_per_epoch: int | None = None
    batch_size: int = 32
    learning_rate: float = 1e-3
    init: str = "random"
    init_from: str | None = None  # a .weights.npz: load every array whose name and shape match
    head_epochs: int = 3
    finetune_lr_factor: float = 0.1
    patience: int = 8
    seed: int = DEFAULT_SEED
    augment: bool = True
    stain_jitter: bool = True  # the H/E stain jitter within the augmentation (an ablation turns it off)
    dataset_shares: dict = field(default_factory=lambda: {"aria": 0.55, "cnmc": 0.3, "bccd": 0.15})
    sampling: str = "dataset"  # "class": classes drawn equally often overall (data.pipeline.SAMPLING)
    cell_share: float = CELL_SHARE
    mask_outside: bool = True  # False: crops keep the cell's surroundings (an ablation)
    run_dir: str | None = None
    weights_dir: str = "model_weights"
    cache_dir: str | None = "runs/.cache"
    resume: bool = False
    max_images: int | None = None
    verbose: int | None = None
    bn_momentum: float = 0.9
    norm: str = "batch"  # the backbone's normalisation: "batch" as built, or "group" (an ablation)
    colour: str = "as is"  # "standardised": each crop's colour standardised inside the graph (a lever)
    instance_teacher: str | None = None  # a .weights.npz: drop the cells of weak ALL fields it calls normal
    cells_pack: str | None = None  # a cells-pack file: its crops instead of the images of ``data`` (cellpack.py)
    cells_pack_info: dict | None = None  # set when the pack is read: its description, file and sha256


def set_bn_momentum(model, momentum: float) -> None:
    """Set the moving-average momentum of every BatchNormalization layer. Keras' default (0.99)
    suits long training; from random initialisation with a few hundred steps the moving statistics
    would still reflect the first batches when validation runs, and validation would see a model
    that does not exist. 0.9 tracks the weights within ~20 steps.
    """
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum


def _subsample(records: list[Record], n: int | None, seed: int) -> list[Record]:
    if not n or len(records) <= n:
        return records
    rng = np.random.default_rng(seed)
    idx = sorted(rng.choice(len(records), n, replace=False))
    return [records[i] for i in idx]


def gather_records(cfg: TrainConfig) -> tuple[list[Record], list[Record]]:
    """Training and validation records (never test), filtered, with the leakage check applied."""
    records = [r for r in read_many(cfg.data) if r.part not in cfg.exclude_parts]
    train = select(records, ["train", "unsplit"])
    val = select(records, ["val"])
    if cfg.val_data:
        val += [r for r in read_many(cfg.val_data, split="val") if r.part not in cfg.exclude_parts]
    if not train:
        raise LeukemiaCoreError("no training images found in " + ", ".join(cfg.data))
    train = _subsample(train, cfg.max_images, cfg.seed)
    val = _subsample(val, cfg.max_images, cfg.seed + 1)
    check_leakage(train, val, "train/val")
    return train, val


class CellValidation(keras.callbacks.Callback):
    """After each epoch: score the validation cells with the classifier alone, keep the best
    weights, stop early, and append the epoch to ``history.json`` as soon as it ends."""

    def __init__(self, classifier, val: CellSet | None, run_dir: Path, phase: str, patience: int):
        super().__init__()
        self.classifier, self.val, self.run_dir, self.phase, self.patience = classifier, val, run_dir, phase, patience
        self.path = run_dir / "history.json"
        self.datasets = None
        if val is not None and len(val.y):
            self.val = val.subset(monitor_subset(cell_datasets(val), MONITOR_CELLS))
            self.datasets = cell_datasets(self.val)

    def on_epoch_begin(self, epoch, logs=None):
        """Start the epoch's clock."""
        self._t0 = time.time()

    def on_epoch_end(self, epoch, logs=None):
        """Score the validation cells, write the epoch to ``history.json``, keep the best weights
        and stop after ``patience`` epochs without improvement.
        """
        logs = dict(logs or {})
        if self.datasets is not None:
            p = predict_array(self.classifier, self.val.x)
            logs.update(validation_score(self.val.y, p, self.datasets))
        hist = json.loads(self.path.read_text()) if self.path.is_file() else []
        hist = [h for h in hist if not (h["phase"] == self.phase and h["epoch"] >= epoch + 1)]
        entry = {"phase": self.phase, "epoch": epoch + 1, "seconds": round(time.time() - self._t0, 1)}
        entry.update({k: (None if v is None else float(v)) for k, v in logs.items()})
        hist.append(entry)
        write_json_list(self.path, hist)
        score = entry.get("val_score", -entry.get("loss", 0.0))
        best = [h.get("val_score", -h.get("loss", 0.0)) for h in hist[:-1]]
        if not best or score > max(best):
            self.classifier.save_weights(self.run_dir / "best.weights.h5")
            (self.run_dir / "best.json").write_text(json.dumps(entry) + "\n")
        phase_scores = [h.get("val_score", -h.get("loss", 0.0)) for h in hist if h["phase"] == self.phase]
        best_at = int(np.argmax(phase_scores))
        if len(phase_scores) - 1 - best_at >= self.patience:
            self.model.stop_training = True


def training_model(classifier, augment: bool, seed: int, stain_jitter: bool = True):
    """The classifier with the augmentation layers in front (they act only in training).

    The classifier's weights are shared, not copied: training this model trains the classifier.
    """
    if not augment:
        return classifier
    inputs = keras.Input(classifier.input_shape[1:], name="train_image")
    augmenter = make_augmenter(AugmentConfig().with_stain(stain_jitter), seed)
    return keras.Model(inputs, classifier(augmenter(inputs)), name="train_wrapper")


def _compile(model, lr_schedule):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr_schedule),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.05), metrics=["accuracy"])


def _fit_phase(trainer, classifier, cfg: TrainConfig, run_dir: Path, phase: str, epochs: int, lr: float,
               batches, val: CellSet | None, verbose: int):
    if epochs <= 0:
        return
    backup = run_dir / f"backup_{phase}"
    schedule = keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, epochs * len(batches)), alpha=0.05)
    _compile(trainer, schedule)
    callbacks = [CellValidation(classifier, val, run_dir, phase, cfg.patience),
                 keras.callbacks.BackupAndRestore(str(backup), double_checkpoint=True)]
    _drop_unreadable_backup(backup)
    trainer.fit(batches, epochs=epochs, callbacks=callbacks, verbose=verbose)
    (run_dir / f"phase_{phase}.done").write_text("ok\n")


def _drop_unreadable_backup(backup: Path) -> None:
    """A run killed while writing its first checkpoint leaves a file that cannot be read and no
    previous copy to fall back on; start that phase again instead of failing."""
    for f in backup.glob("*.h5") if backup.is_dir() else []:
        try:
            with h5py.File(f, "r"):
                pass
        except OSError:
            prev = [p for p in backup.glob("*") if p != f and p.suffix == ".h5"]
            if not prev:
                log.warning("checkpoint %s was cut off while being written; restarting this phase", f)
                shutil.rmtree(backup)
                return


def pack_settings(cfg: TrainConfig, size: int) -> dict:
    """What a cells pack must have been cut with to serve this run (:mod:`.cellpack`)."""
    return {"input_size": size, "cell_share": cfg.cell_share, "mask_outside": cfg.mask_outside}


def load_cells(cfg: TrainConfig, size: int) -> tuple[list[Record], list[Record], CellSet, CellSet | None]:
    """Train and val records and their cells (from ``cfg.cells_pack`` when given, which then sets
    ``cfg.data`` and ``cfg.exclude_parts`` to the pack's); cells cut by the image edge are left out
    of training."""
    if cfg.cells_pack:
        if cfg.val_data or cfg.max_images or cfg.instance_teacher:
            raise LeukemiaCoreError("--cells-pack holds the cells: give no --val-data, --max-images or teacher")
        cells, meta = read_pack(Path(cfg.cells_pack), pack_settings(cfg, size))
        cfg.data, cfg.exclude_parts, cfg.cells_pack_info = meta["data"], meta["exclude_parts"], meta
        (train_recs, tr), (val_recs, va) = cells["train"], cells.get("val", ([], None))
        log.info("cells pack %s: %s", meta["file"], meta["cells"])
        return train_recs, val_recs, tr.subset(~tr.border), va
    train_recs, val_recs = gather_records(cfg)
    log.info("train: %s", summarize(train_recs))
    log.info("val: %s", summarize(val_recs))
    cache = Path(cfg.cache_dir) if cfg.cache_dir else None
    tr = extract_cells(train_recs, size, cfg.cell_share, cache, masked=cfg.mask_outside)
    va = extract_cells(val_recs, size, cfg.cell_share, cache, masked=cfg.mask_outside) if val_recs else None
    for r, msg in tr.errors + (va.errors if va else []):
        log.warning("skipped %s: %s", r.path, msg)
    tr = tr.subset(~tr.border)
    if not len(tr.y):
        raise LeukemiaCoreError("no white cells found in the training images")
    return train_recs, val_recs, tr, va


def train(cfg: TrainConfig) -> dict:
    """Run (or resume) a training run on cells and export its weights; return the manifest written.

    Raises LeukemiaCoreError subclasses (bad data folders, leakage, unknown models, bad weights).
    """
    spec = get_spec(cfg.model)
    size = int(cfg.input_size or spec.input_size)
    run_dir = Path(cfg.run_dir or f"runs/{cfg.model}")
    if run_dir.exists() and not cfg.resume:
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.json", asdict(cfg))
    t_start = time.time()
    earlier = earlier_seconds(run_dir / "history.json")
    train_recs, val_recs, tr, va = load_cells(cfg, size)
    instances = None
    if cfg.instance_teacher:
        tr, instances = clean_weak_fields(tr, cfg.instance_teacher, Path(cfg.cache_dir) if cfg.cache_dir else None)
    log.info("cells: %d train, %d val, in %.0f s", len(tr.y), len(va.y) if va else 0, time.time() - t_start)

    keras.utils.set_random_seed(cfg.seed)
    weights = sample_weights(tr.y, cell_datasets(tr), cfg.dataset_shares, cfg.sampling)
    steps = cfg.steps_per_epoch or int(np.ceil(len(tr.y) / cfg.batch_size))
    batches = balanced_batches(tr.x, tr.y, weights, cfg.batch_size, steps, cfg.seed)
    verbose = cfg.verbose if cfg.verbose is not None else (1 if sys.stdout.isatty() else 2)

    start = None
    if cfg.init in STARTS:  # a pretrained start for some layers; the schedule stays the random-init one
        model = create_model(cfg.model, size, norm=cfg.norm, colour=cfg.colour)
        start = apply_start(model, cfg.init)
        log.info("initialised %d arrays from the pretrained start %s", start["arrays"], cfg.init)
    else:
        model = create_model(cfg.model, size, init=cfg.init, norm=cfg.norm, colour=cfg.colour)
    if cfg.init_from:
        n, total = load_matching_weights(model, Path(cfg.init_from))
        log.info("initialised %d of %d variables from %s", n, total, cfg.init_from)
        if n == 0:
            raise LeukemiaCoreError(f"{cfg.init_from}: no variable of {cfg.model} matches it by name and shape")
    pretrained = cfg.init not in ("random", *STARTS)  # a whole pretrained backbone: head first, lower rate
    if not pretrained:
        set_bn_momentum(model, cfg.bn_momentum)
    trainer = training_model(model, cfg.augment, cfg.seed, cfg.stain_jitter)
    head_epochs = min(cfg.head_epochs, cfg.epochs) if pretrained else 0
    if head_epochs and not (run_dir / "phase_head.done").exists():
        set_backbone_trainable(model, False)
        _fit_phase(trainer, model, cfg, run_dir, "head", head_epochs, cfg.learning_rate, batches, va, verbose)
        set_backbone_trainable(model, True)
    elif head_epochs:
        load_weights_into(model, run_dir / "best.weights.h5")
    main_lr = cfg.learning_rate * (cfg.finetune_lr_factor if pretrained else 1.0)
    _fit_phase(trainer, model, cfg, run_dir, "main", cfg.epochs - head_epochs, main_lr, batches, va, verbose)

    best = run_dir / "best.weights.h5"
    if best.is_file():
        load_weights_into(model, best)
    history = json.loads((run_dir / "history.json").read_text()) if (run_dir / "history.json").is_file() else []
    manifest = export(model, cfg, size, train_recs, val_recs, tr, va, history, time.time() - t_start + earlier,
                      instances, start)
    write_json(run_dir / "done.json", {"finished": manifest["date"]})
    return manifest


def export(model, cfg: TrainConfig, size: int, train_recs, val_recs, tr: CellSet, va: CellSet | None,
           history, seconds: float, instances: dict | None = None, start: dict | None = None) -> dict:
    """Write the shippable weights, manifest and history into ``cfg.weights_dir``; ``instances``
    records the cells an instance teacher left out (:mod:`.instances`), ``start`` the pretrained
    start the run began from (:func:`~leukemia_core.models.starts.apply_start`)."""
    spec = get_spec(cfg.model)
    wdir = Path(cfg.weights_dir)
    wdir.mkdir(parents=True, exist_ok=True)
    sha = save_weights_npz(model, spec.weights_path(wdir))
    write_json_list(wdir / f"{spec.name}.history.json", history)
    monitor = "val_score" if any("val_score" in h for h in history) else "loss"
    scored = [h for h in history if h.get(monitor) is not None]
    best = (max(scored, key=lambda h: h[monitor]) if monitor == "val_score" else min(scored, key=lambda h: h[monitor])) \
        if scored else None
    manifest = {
        "name": spec.name,
        "description": spec.description,
        "unit": "cell",
        "input_size": size,
        "cell_share": cfg.cell_share, "mask_outside": cfg.mask_outside, "norm": cfg.norm,
        "colour": cfg.colour,
        "input_range": spec.input_range,
        "cam_layer": spec.cam_layer,
        "init": cfg.init,
        "init_start": start,
        "init_from": cfg.init_from and {"file": Path(cfg.init_from).name, "sha256": sha256_of(Path(cfg.init_from))},
        "backend": keras.backend.backend(),
        "weights_file": spec.weights_file,
        "weights_sha256": sha,
        "weights_storage": "float16 for arrays of 4096+ values, float32 otherwise",
        "params": int(model.count_params()),
        "training": {
            "data": cfg.data, "val_data": cfg.val_data, "exclude_parts": cfg.exclude_parts,
            "train": summarize(train_recs), "val": summarize(val_recs),
            "train_cells": int(len(tr.y)), "val_cells": int(len(va.y)) if va else 0,
            "train_cells_all": int(tr.y.sum()), "train_cells_hem": int((tr.y == 0).sum()),
            "train_groups": group_keys(train_recs),
            "selected_on": group_keys(val_recs),
            "selection": "epoch with the best mean ROC AUC over the validation datasets' cells, each dataset "
                         "weighted by the square root of its cell count",
            "label_note": "Aria cells carry their field's label (weak label); C-NMC cells their own",
            "instances": instances, "cells_pack": cfg.cells_pack_info,
            "epochs_run": len(history), "epochs_max": cfg.epochs,
            "steps_per_epoch": cfg.steps_per_epoch or int(np.ceil(len(tr.y) / cfg.batch_size)),
            "selected_epoch": best and {"phase": best["phase"], "epoch": best["epoch"], monitor: best[monitor]},
            "batch_size": cfg.batch_size, "learning_rate": cfg.learning_rate, "optimizer": "Adam",
            "schedule": "cosine decay to 5% per phase", "label_smoothing": 0.05,
            "sampling": {"dataset_shares": cfg.dataset_shares, "by": cfg.sampling, "classes": SAMPLING[cfg.sampling]},
            "bn_momentum": cfg.bn_momentum if cfg.init in ("random", *STARTS) else "as built",
            "augmentation": asdict(AugmentConfig().with_stain(cfg.stain_jitter)) if cfg.augment else None,
            "seed": cfg.seed, "seconds": round(seconds, 1),
        },
        "commit": git_commit(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    write_json(wdir / f"{spec.name}.manifest.json", manifest)
    return manifest
