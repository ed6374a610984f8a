"""models.torch_pickle: a legacy torch.save state dict read into arrays, and nothing else let through.

The files are written here in the legacy layout by the standard pickler, with stand-ins for the
two torch names a state dict refers to (PyTorch is not a dependency)."""

import collections
import io
import pickle
import sys
import types

import numpy as np
import pytest

from leukemia_core.errors import WeightsError
from leukemia_core.models import torch_pickle


class _Tensor:
    def __init__(self, key, storage, offset, shape, stride):
        self.key, self.storage, self.offset, self.shape, self.stride = key, storage, offset, shape, stride


@pytest.fixture
def fake_torch(monkeypatch):
    """``torch.FloatStorage``, ``torch.LongStorage`` and ``torch._utils._rebuild_tensor_v2`` as the
    pickler must name them."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in ("FloatStorage", "LongStorage"):
        setattr(torch, name, type(name, (), {"__module__": "torch"}))
    torch._utils = utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


def _legacy(state: dict, storages: dict[str, np.ndarray], torch, extra_tail: bytes = b"") -> bytes:
    """The bytes ``torch.save`` (before 1.6) writes for ``state``; each ``_Tensor`` names its storage."""

    class Writer(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, tuple) and len(obj) == 2 and obj[0] == "__storage__":
                a = storages[obj[1]]
                kind = torch.FloatStorage if a.dtype == np.float32 else torch.LongStorage
                return ("storage", kind, obj[1], "cpu", a.size, None)
            return None

        def reducer_override(self, obj):
            if isinstance(obj, _Tensor):
                return (sys.modules["torch._utils"]._rebuild_tensor_v2,
                        (("__storage__", obj.key), obj.offset, obj.shape, obj.stride, False, collections.OrderedDict()))
            return NotImplemented

    f = io.BytesIO()
    for head in (torch_pickle.LEGACY_MAGIC, torch_pickle.LEGACY_PROTOCOL,
                 {"protocol_version": 1001, "little_endian": True, "type_sizes": {"int": 4, "long": 4}}):
        pickle.dump(head, f, protocol=2)
    Writer(f, protocol=2).dump(collections.OrderedDict(state))
    pickle.dump(list(storages), f, protocol=2)
    for a in storages.values():
        f.write(a.size.to_bytes(8, "little") + a.tobytes())
    return f.getvalue() + extra_tail


def test_a_state_dict_is_read_with_shapes_strides_and_offsets(fake_torch):
    w = np.arange(24, dtype=np.float32)
    n = np.array([7], np.int64)
    state = {"conv.weight": _Tensor("0", None, 0, (2, 3, 4), (12, 4, 1)),
             "conv.weight_t": _Tensor("0", None, 0, (4, 3), (1, 4)),  # a transposed view of the same storage
             "bn.bias": _Tensor("0", None, 20, (4,), (1,)),
             "bn.num_batches_tracked": _Tensor("1", None, 0, (), ())}
    got = torch_pickle.read_legacy_state_dict(_legacy(state, {"0": w, "1": n}, fake_torch))
    assert list(got) == list(state)
    np.testing.assert_array_equal(got["conv.weight"], w.reshape(2, 3, 4))
    np.testing.assert_array_equal(got["conv.weight_t"], w[:12].reshape(3, 4).T)
    np.testing.assert_array_equal(got["bn.bias"], w[20:24])
    assert got["bn.num_batches_tracked"] == 7 and got["bn.num_batches_tracked"].dtype == np.int64


def test_a_file_that_names_anything_else_runs_nothing(fake_torch):
    class Evil:
        def __reduce__(self):
            return (print, ("ran",))

    f = io.BytesIO()
    for head in (torch_pickle.LEGACY_MAGIC, torch_pickle.LEGACY_PROTOCOL, {"little_endian": True}):
        pickle.dump(head, f, protocol=2)
    pickle.dump({"w": Evil()}, f, protocol=2)
    with pytest.raises(WeightsError, match="names .*print"):
        torch_pickle.read_legacy_state_dict(f.getvalue())


def test_wrong_or_truncated_files_are_refused(fake_torch):
    good = _legacy({"w": _Tensor("0", None, 0, (3,), (1,))}, {"0": np.ones(3, np.float32)}, fake_torch)
    with pytest.raises(WeightsError, match="magic"):
        magic = len(pickle.dumps(torch_pickle.LEGACY_MAGIC, protocol=2))
        torch_pickle.read_legacy_state_dict(pickle.dumps(123, protocol=2) + good[magic:])
    with pytest.raises(WeightsError, match="bytes missing"):
        torch_pickle.read_legacy_state_dict(good[:-4])
    with pytest.raises(WeightsError, match="left over"):
        torch_pickle.read_legacy_state_dict(good + b"x")
    with pytest.raises(WeightsError, match="outside its storage"):
        torch_pickle.read_legacy_state_dict(_legacy({"w": _Tensor("0", None, 2, (3,), (1,))},
                                                    {"0": np.ones(3, np.float32)}, fake_torch))
    with pytest.raises(WeightsError, match="not a readable"):
        torch_pickle.read_legacy_state_dict(b"PK\x03\x04 a zip-format file")
