"""What the benchmark measures: the models (shipped, or the architecture with random weights) and
the bundled sample images."""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..paths import artefact_file

#: The sample every single-image figure uses (450x450 C-NMC cell, as the app offers it).
BENCH_IMAGE = "all/UID_13_10_1_all.png"
#: A 224x224 Aria field, profiled for preprocessing only.
ARIA_IMAGE = "all/WBC-Malignant-Early-800.jpg"


@dataclass
class BenchImages:
    """The bundled samples, read once.

    Attributes:
        rgb: the bench image, decoded.
        aria: the Aria image, decoded.
        names: file name of every sample.
        blobs: every sample's file bytes (decoding is timed from these: no disk in the figures).
        decoded: every sample, decoded ``uint8 (H, W, 3)``.
        labels: ``int32`` 1 = ALL, 0 = HEM, per sample.
        datasets: ``"aria"`` or ``"cnmc"`` per sample.
    """

    rgb: np.ndarray
    aria: np.ndarray
    names: list[str]
    blobs: list[bytes]
    decoded: list[np.ndarray]
    labels: np.ndarray
    datasets: list[str]


def sample_images() -> BenchImages:
    """The bench image, the Aria image and every bundled sample (labels, datasets, bytes)."""
    from ..data.images import read_image
    from ..samples import SAMPLES_DIR, list_samples

    samples = list_samples()
    blobs = [s.path.read_bytes() for s in samples]
    return BenchImages(
        rgb=read_image(SAMPLES_DIR / BENCH_IMAGE),
        aria=read_image(SAMPLES_DIR / ARIA_IMAGE),
        names=[s.path.name for s in samples],
        blobs=blobs,
        decoded=[read_image(b) for b in blobs],
        labels=np.array([1 if s.label == "all" else 0 for s in samples], np.int32),
        datasets=["aria" if s.dataset.startswith("Aria") else "cnmc" for s in samples],
    )


def input_size(name: str, weights_dir: Path) -> tuple[int, str]:
    """The shipped input size (manifest) or the spec's default, and where it came from."""
    from ..models.weights import read_manifest
    from ..models.registry import resolve_input_config

    config = resolve_input_config(name, read_manifest(name, weights_dir, missing_ok=True))
    return config.input_size, config.source


def get_model(name: str, weights_dir: Path, export_dir: Path | None):
    """The shipped model, or the architecture with random weights (exported to ``export_dir``).

    Returns:
        ``(LoadedModel, weights description, note or None, load seconds)``.
    """
    from ..inference import LoadedModel, load_model, weights_status

    size, size_from = input_size(name, weights_dir)
    status = weights_status(name, weights_dir)
    t0 = time.perf_counter()
    if status == "ok":
        loaded = load_model(name, weights_dir)
        return loaded, "shipped", None, time.perf_counter() - t0
    import keras

    from ..models import create_model, get_spec
    from ..models.weights import save_weights_npz
    from ..jsonio import write_json

    keras.utils.set_random_seed(0)
    model = create_model(name, size)
    seconds = time.perf_counter() - t0
    spec = get_spec(name)
    manifest = {"name": name, "input_size": size, "cam_layer": spec.cam_layer, "weights_file": spec.weights_file,
                "training": {"noise_reduction": True},
                "note": "random weights written by the benchmark; not a trained model"}
    if export_dir is not None:
        manifest["weights_sha256"] = save_weights_npz(model, spec.weights_path(export_dir))
        write_json(export_dir / artefact_file(name, "manifest"), manifest)
    note = (f"weights absent ({status}); the architecture was benchmarked with random weights at "
            f"{size} px ({size_from})")
    return LoadedModel(name, model, manifest, size, True), "random", note, seconds


def weights_for_children(names: list[str], weights_dir: Path, export_dir: Path) -> Path:
    """Folder holding every model's weights for a fresh process (memory figure, app): the real one
    when all are shipped; else ``export_dir`` with the shipped files linked and random weights
    exported for the others (those already exported there are kept)."""
    from ..inference import weights_status
    from ..models import get_spec

    if all(weights_status(n, weights_dir) == "ok" for n in names):
        return weights_dir
    for n in names:
        if weights_status(n, weights_dir) == "ok":
            for f in (get_spec(n).weights_file, artefact_file(n, "manifest")):
                dst = export_dir / f
                if not dst.exists():
                    dst.symlink_to((weights_dir / f).resolve())
        elif weights_status(n, export_dir) != "ok":
            get_model(n, weights_dir, export_dir)
    release_models()
    return export_dir


def release_models() -> None:
    """Free the Keras models built so far (between models, so each is measured alone)."""
    import keras

    keras.backend.clear_session()
    gc.collect()
