"""models.registry: the registered models, unknown names, initial weights."""


import pytest
from conftest import REAL

from leukemia_core.errors import UnknownModelError
from leukemia_core.models import create_model, get_spec, list_models


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
