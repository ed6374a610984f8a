"""models.registry: the registered models, unknown names, initial weights."""


import pytest
from conftest import REAL

from leukemia_core.cells.crop import CELL_SHARE
from leukemia_core.errors import UnknownModelError
from leukemia_core.models import create_model, get_spec, list_models
from leukemia_core.models.registry import InputConfig, resolve_input_config


def test_registry_lists_the_four_models():
    assert set(list_models()) == set(REAL)
    assert "tiny_cnn" in list_models(include_test=True)


def test_unknown_model_names_the_valid_ones():
    with pytest.raises(UnknownModelError) as err:
        get_spec("vgg16")
    for n in REAL:
        assert n in str(err.value)


def test_init_must_be_known():
    with pytest.raises(ValueError, match="init"):
        create_model("tiny_cnn", init="pretrained")


def test_models_are_built_one_at_a_time_across_threads(monkeypatch):
    import threading
    import time

    from leukemia_core.models import registry

    spec = registry.get_spec("tiny_cnn")
    inside, most = [], []

    def slow_builder(size, weights, **kw):
        inside.append(1)
        most.append(len(inside))
        time.sleep(0.05)
        inside.pop()
        return "built"

    import dataclasses
    monkeypatch.setitem(registry._REGISTRY, "tiny_cnn", dataclasses.replace(spec, builder=slow_builder))
    threads = [threading.Thread(target=registry.create_model, args=("tiny_cnn",)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(most) == 4 and max(most) == 1  # never two builds at once


def test_resolve_input_config_defaults_and_manifest():
    spec = get_spec("tiny_cnn")
    assert resolve_input_config("tiny_cnn", None) == InputConfig(spec.input_size, CELL_SHARE, True,
                                                                 "defaults (no manifest)")
    # a manifest without the fields falls back field by field
    assert resolve_input_config("tiny_cnn", {}) == InputConfig(spec.input_size, CELL_SHARE, True, "manifest")
    got = resolve_input_config("tiny_cnn", {"input_size": "48", "cell_share": 0.5,
                                            "training": {"noise_reduction": False}})
    assert got == InputConfig(48, 0.5, False, "manifest")
    assert got.mask_outside is True  # crops on black unless the manifest says otherwise
    assert resolve_input_config("tiny_cnn", {"mask_outside": False}).mask_outside is False
    assert isinstance(got.input_size, int) and isinstance(got.cell_share, float)
    with pytest.raises(UnknownModelError):
        resolve_input_config("no_such_model", None)
