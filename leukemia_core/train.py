"""Training: Adam, class weights, cosine learning-rate schedule, early stopping, checkpoints,
``--resume``, an optional head-then-fine-tune schedule for pretrained starts, and export of the
shippable weights with their manifest.

A run lives in ``run_dir`` (``runs/<model>`` by default, ignored by git)::

    run_dir/backup/              Keras BackupAndRestore state (resume after a crash or a stop)
    run_dir/best.weights.h5      weights of the best epoch so far (by validation balanced accuracy)
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
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np

from .augment import AugmentConfig, make_augmenter
from .datasets import Record, read_many, summarize
from .errors import LeukemiaCoreError
from .models import create_model, get_spec
from .pipeline import class_weights, eval_dataset, load_images, train_dataset
from .splits import check_leakage, group_keys, select
from .weights import load_weights_into, save_weights_npz, write_json

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored in the manifest)."""

    model: str
    data: list[str]
    val_data: list[str] = field(default_factory=list)
    exclude_parts: list[str] = field(default_factory=list)
    input_size: int | None = None
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-3
    init: str = "random"
    head_epochs: int = 3
    finetune_lr_factor: float = 0.1
    patience: int = 8
    seed: int = 42
    noise_reduction: bool = True
    augment: bool = True
    run_dir: str | None = None
    weights_dir: str = "model_weights"
    cache_dir: str | None = "runs/.cache"
    resume: bool = False
    strategy: str = "default"
    max_images: int | None = None
    verbose: int | None = None
    bn_momentum: float = 0.9


def set_bn_momentum(model, momentum: float) -> None:
    """Set the moving-average momentum of every BatchNormalization layer.

    Keras' default (0.99) suits long training; from random initialisation with a few hundred steps
    the moving statistics would still reflect the first batches when validation runs, and
    validation would see a model that does not exist. 0.9 tracks the weights within ~20 steps.
    """
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def get_strategy(name: str):
    """``default`` (one device), ``mirrored`` (all local GPUs) or ``multiworker`` (``TF_CONFIG``)."""
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}; choose default, mirrored or multiworker")


def _subsample(records: list[Record], n: int | None, seed: int) -> list[Record]:
    if not n or len(records) <= n:
        return records
    rng = np.random.default_rng(seed)
    idx = sorted(rng.choice(len(records), n, replace=False))
    return [records[i] for i in idx]


def gather_records(cfg: TrainConfig) -> tuple[list[Record], list[Record]]:
    """Training and validation records, filtered, with the leakage check applied."""
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


class EpochLog(keras.callbacks.Callback):
    """Adds balanced accuracy (mean of the per-class recalls) to the logs and appends each epoch
    to ``history.json`` as soon as it ends, so an interrupted run keeps its history."""

    def __init__(self, path: Path, phase: str):
        super().__init__()
        self.path, self.phase = path, phase

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.time()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        for prefix in ("", "val_"):
            a, b = logs.get(f"{prefix}recall_hem"), logs.get(f"{prefix}recall_all")
            if a is not None and b is not None:
                logs[f"{prefix}balanced_accuracy"] = (float(a) + float(b)) / 2
        hist = json.loads(self.path.read_text()) if self.path.is_file() else []
        hist = [h for h in hist if not (h["phase"] == self.phase and h["epoch"] >= epoch + 1)]
        lr = self.model.optimizer.learning_rate
        entry = {"phase": self.phase, "epoch": epoch + 1, "seconds": round(time.time() - self._t0, 1),
                 "learning_rate": float(np.asarray(lr.numpy() if hasattr(lr, "numpy") else lr))}
        entry.update({k: float(v) for k, v in logs.items() if k != "learning_rate"})
        hist.append(entry)
        write_json_list(self.path, hist)


def write_json_list(path: Path, items: list) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(items, indent=1) + "\n")
    tmp.replace(path)


def _compile(model, lr_schedule):
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=lr_schedule),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.05),
        metrics=["accuracy", keras.metrics.AUC(name="auc"),
                 keras.metrics.Recall(class_id=0, name="recall_hem"),
                 keras.metrics.Recall(class_id=1, name="recall_all")])


def _fit_phase(model, cfg: TrainConfig, run_dir: Path, phase: str, epochs: int, lr: float,
               train_ds, val_ds, steps: int, cw: dict, verbose: int):
    if epochs <= 0:
        return
    backup = run_dir / f"backup_{phase}"
    schedule = keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, epochs * steps), alpha=0.05)
    _compile(model, schedule)
    monitor = "val_balanced_accuracy" if val_ds is not None else "balanced_accuracy"
    best_file = run_dir / "best.weights.h5"
    best_so_far = _best_in_history(run_dir / "history.json", monitor)
    callbacks = [
        EpochLog(run_dir / "history.json", phase),
        keras.callbacks.ModelCheckpoint(best_file, monitor=monitor, mode="max", save_best_only=True,
                                        save_weights_only=True, initial_value_threshold=best_so_far),
        keras.callbacks.EarlyStopping(monitor=monitor, mode="max", patience=cfg.patience),
        keras.callbacks.BackupAndRestore(str(backup), double_checkpoint=True),
    ]
    _drop_unreadable_backup(backup)
    model.fit(train_ds, validation_data=val_ds, epochs=epochs, class_weight=cw, callbacks=callbacks, shuffle=False,
              verbose=verbose)
    (run_dir / f"phase_{phase}.done").write_text("ok\n")


def _drop_unreadable_backup(backup: Path) -> None:
    """A run killed while writing its first checkpoint leaves a file that cannot be read and no
    previous copy to fall back on; start that phase again instead of failing."""
    import h5py

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


def _best_in_history(path: Path, monitor: str):
    if not path.is_file():
        return None
    vals = [h[monitor] for h in json.loads(path.read_text()) if monitor in h]
    return max(vals) if vals else None


def train(cfg: TrainConfig) -> dict:
    """Run (or resume) a training run and export its weights; return the manifest written.

    Raises:
        LeukemiaCoreError subclasses for bad data folders, leakage, unknown models, bad weights.
    """
    spec = get_spec(cfg.model)
    size = int(cfg.input_size or spec.input_size)
    run_dir = Path(cfg.run_dir or f"runs/{cfg.model}")
    if run_dir.exists() and not cfg.resume:
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.json", asdict(cfg))
    t_start = time.time()

    train_recs, val_recs = gather_records(cfg)
    log.info("train: %s", summarize(train_recs))
    log.info("val: %s", summarize(val_recs))
    cache = Path(cfg.cache_dir) if cfg.cache_dir else None
    x_tr, y_tr, train_recs, bad_tr = load_images(train_recs, size, cfg.noise_reduction, cache)
    x_va, y_va, val_recs, bad_va = load_images(val_recs, size, cfg.noise_reduction, cache) if val_recs \
        else (None, None, [], [])
    for r, msg in bad_tr + bad_va:
        log.warning("skipped %s: %s", r.path, msg)
    log.info("decoded %d train and %d val images in %.0f s", len(x_tr), len(val_recs), time.time() - t_start)

    keras.utils.set_random_seed(cfg.seed)
    strategy = get_strategy(cfg.strategy)
    batch = cfg.batch_size * strategy.num_replicas_in_sync
    augment = make_augmenter(AugmentConfig(), cfg.seed) if cfg.augment else None
    train_ds = train_dataset(x_tr, y_tr, batch, cfg.seed, augment)
    val_ds = eval_dataset(x_va, y_va, batch) if x_va is not None and len(x_va) else None
    steps = int(np.ceil(len(x_tr) / batch))
    cw = class_weights(y_tr)
    verbose = cfg.verbose if cfg.verbose is not None else (1 if sys.stdout.isatty() else 2)

    with strategy.scope():
        model = create_model(cfg.model, size, init=cfg.init)
        pretrained = cfg.init != "random"
        if not pretrained:
            set_bn_momentum(model, cfg.bn_momentum)
        head_epochs = min(cfg.head_epochs, cfg.epochs) if pretrained else 0
        if head_epochs and not (run_dir / "phase_head.done").exists():
            from .models.builders import set_backbone_trainable

            set_backbone_trainable(model, False)
            _fit_phase(model, cfg, run_dir, "head", head_epochs, cfg.learning_rate, train_ds, val_ds,
                       steps, cw, verbose)
            set_backbone_trainable(model, True)
        elif head_epochs:
            load_weights_into(model, run_dir / "best.weights.h5")
        main_lr = cfg.learning_rate * (cfg.finetune_lr_factor if pretrained else 1.0)
        _fit_phase(model, cfg, run_dir, "main", cfg.epochs - head_epochs, main_lr, train_ds, val_ds,
                   steps, cw, verbose)

    best = run_dir / "best.weights.h5"
    if best.is_file():
        load_weights_into(model, best)
    history = json.loads((run_dir / "history.json").read_text()) if (run_dir / "history.json").is_file() else []
    manifest = export(model, cfg, size, train_recs, val_recs, history, time.time() - t_start)
    write_json(run_dir / "done.json", {"finished": manifest["date"]})
    return manifest


def export(model, cfg: TrainConfig, size: int, train_recs, val_recs, history, seconds: float) -> dict:
    """Write the shippable weights, manifest and history into ``cfg.weights_dir``."""
    spec = get_spec(cfg.model)
    wdir = Path(cfg.weights_dir)
    sha = save_weights_npz(model, spec.weights_path(wdir))
    write_json_list(wdir / f"{spec.name}.history.json", history)
    monitor = "val_balanced_accuracy" if val_recs else "balanced_accuracy"
    scored = [h for h in history if monitor in h]
    best = max(scored, key=lambda h: h[monitor]) if scored else None
    manifest = {
        "name": spec.name,
        "description": spec.description,
        "input_size": size,
        "input_range": spec.input_range,
        "cam_layer": spec.cam_layer,
        "init": cfg.init,
        "weights_file": spec.weights_file,
        "weights_sha256": sha,
        "weights_storage": "float16 for arrays of 4096+ values, float32 otherwise",
        "params": int(model.count_params()),
        "training": {
            "data": cfg.data, "val_data": cfg.val_data, "exclude_parts": cfg.exclude_parts,
            "train": summarize(train_recs), "val": summarize(val_recs),
            "train_groups": group_keys(train_recs),
            "epochs_run": len(history), "epochs_max": cfg.epochs,
            "selected_epoch": best and {"phase": best["phase"], "epoch": best["epoch"], monitor: best[monitor]},
            "batch_size": cfg.batch_size, "learning_rate": cfg.learning_rate, "optimizer": "Adam",
            "schedule": "cosine decay to 5% per phase", "label_smoothing": 0.05,
            "class_weights": "n / (2 n_class)", "noise_reduction": cfg.noise_reduction,
            "bn_momentum": cfg.bn_momentum if cfg.init == "random" else "as built",
            "augmentation": asdict(AugmentConfig()) if cfg.augment else None,
            "seed": cfg.seed, "seconds": round(seconds, 1),
        },
        "commit": git_commit(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    write_json(wdir / f"{spec.name}.manifest.json", manifest)
    return manifest
