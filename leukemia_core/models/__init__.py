"""Model registry and builders. ``create_model(name)`` is the one way to get a model."""

from . import builders  # noqa: F401  (registers the models)
from .registry import ModelSpec, create_model, get_spec, list_models, register_model  # noqa: F401
