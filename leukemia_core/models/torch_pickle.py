"""Read a PyTorch state dict saved in the legacy (pre-1.6) ``torch.save`` format, without PyTorch.

Some registry packages carry ImageNet weights only as a ``.pth`` file. Loading one with ``pickle``
would run whatever the file names; here a restricted unpickler accepts exactly the four names a
state dict of float tensors needs (``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2``
and the float and long storages) and refuses anything else, so a file can only ever give arrays.

The legacy layout is five pickles and raw bytes in a row: a magic number, the protocol version,
the writer's system info, the state dict (its tensors refer to storages by key), the list of
storage keys; then, for each key in that order, an int64 element count and the storage's bytes.
"""

from __future__ import annotations

import collections
import io
import pickle
from dataclasses import dataclass, field

import numpy as np

from ..errors import WeightsError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
_DTYPES = {"FloatStorage": np.dtype("<f4"), "LongStorage": np.dtype("<i8")}


@dataclass
class _Storage:
    kind: str
    key: str
    size: int
    data: np.ndarray | None = field(default=None, repr=False)


@dataclass(frozen=True)
class _TensorRef:
    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage, offset, shape, stride, *_rest):
    return _TensorRef(storage, int(offset), tuple(int(s) for s in shape), tuple(int(s) for s in stride))


class _StateDictUnpickler(pickle.Unpickler):
    """Allows only what a state dict of tensors is made of; storages are collected by key."""

    def __init__(self, file):
        super().__init__(file)
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _DTYPES:
            return name
        raise WeightsError(f"not a plain state dict: the file names {module}.{name}")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and pid[1] in _DTYPES):
            raise WeightsError(f"not a plain state dict: a storage reference {pid!r:.80}")
        key = str(pid[2])
        st = self.storages.setdefault(key, _Storage(pid[1], key, int(pid[4])))
        return st


def _as_array(ref: _TensorRef, name: str) -> np.ndarray:
    """The tensor's values, laid out by its shape and strides over its storage."""
    data = ref.storage.data
    n = int(np.prod(ref.shape)) if ref.shape else 1
    last = ref.offset + sum((d - 1) * s for d, s in zip(ref.shape, ref.stride)) if n else ref.offset
    if data is None or ref.offset < 0 or last >= len(data) or min(ref.stride, default=0) < 0:
        raise WeightsError(f"{name}: its view lies outside its storage")
    item = data.itemsize
    view = np.lib.stride_tricks.as_strided(data[ref.offset:], ref.shape, tuple(s * item for s in ref.stride))
    return np.array(view)


def read_legacy_state_dict(blob: bytes) -> dict[str, np.ndarray]:
    """The tensors of a legacy-format ``torch.save`` state dict, by name, as NumPy arrays.

    Raises:
        WeightsError: not that format, a name outside a plain state dict, or bytes that do not add up.
    """
    f = io.BytesIO(blob)
    try:
        magic, protocol = pickle.load(f), pickle.load(f)
        if magic != LEGACY_MAGIC or protocol != LEGACY_PROTOCOL:
            raise WeightsError("not a legacy torch.save file (magic number or protocol differ)")
        info = pickle.load(f)
        if not isinstance(info, dict) or not info.get("little_endian", False):
            raise WeightsError("only little-endian torch.save files are read")
        unpickler = _StateDictUnpickler(f)
        state = unpickler.load()
        keys = pickle.load(f)
    except WeightsError:
        raise
    except Exception as exc:  # a truncated or foreign pickle
        raise WeightsError(f"not a readable torch.save file ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or not isinstance(keys, list):
        raise WeightsError("the file does not hold a state dict")
    for key in keys:
        st = unpickler.storages.get(str(key))
        head = f.read(8)
        if st is None or len(head) != 8:
            raise WeightsError(f"storage {key!r} is not referenced or the file ends early")
        count = int.from_bytes(head, "little")
        raw = f.read(count * _DTYPES[st.kind].itemsize)
        if count != st.size or len(raw) != count * _DTYPES[st.kind].itemsize:
            raise WeightsError(f"storage {key!r}: {count} elements recorded, {st.size} expected or bytes missing")
        st.data = np.frombuffer(raw, _DTYPES[st.kind])
    if f.read(1):
        raise WeightsError("bytes left over after the last storage")
    out = {}
    for name, ref in state.items():
        if not isinstance(ref, _TensorRef):
            raise WeightsError(f"{name}: not a tensor")
        out[str(name)] = _as_array(ref, str(name))
    return out
