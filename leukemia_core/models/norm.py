"""The backbone's normalisation layers: batch norm as built, or group norm in its place.

Batch norm normalises every feature with statistics gathered on the training labs' batches, and at
inference applies those same statistics to another lab's cells, whose stain and optics shift them:
batch norm is known to generalise poorly across white-cell datasets (Tsutsui et al., ICASSP 2023).
Group norm normalises each image by its own statistics over groups of channels, the same way in
training and at inference, so nothing gathered on the training labs is applied to another lab.

The swap is made on the built graph (the Keras backbones take no normalisation argument) and keeps
every layer name, so Grad-CAM layers, weight names and head freezing work unchanged. The head's
layers (``head_*``, e.g. the proposed model's dense/batch-norm blocks) are kept as built: the swap
is about the convolutional features that see the image.
"""

from __future__ import annotations

#: Normalisation choices for :func:`leukemia_core.models.create_model` (the manifest's ``norm``).
NORMS = ("batch", "group")

#: Channel groups of each group-norm layer (fewer where the channel count is not a multiple).
GROUPS = 8


def group_count(channels: int, groups: int = GROUPS) -> int:
    """The number of groups for ``channels`` channels: the largest divisor of ``channels`` that is at
    most ``groups`` (group norm needs the channels to split evenly)."""
    if channels < 1 or groups < 1:
        raise ValueError(f"channels and groups must be positive, not {channels} and {groups}")
    return max(g for g in range(1, min(groups, channels) + 1) if channels % g == 0)


def _is_backbone_bn(layer, head_prefix: str) -> bool:
    # lazy: Keras imports TensorFlow (about 4 s here); importing the registry must stay cheap
    from keras import layers

    return isinstance(layer, layers.BatchNormalization) and not layer.name.startswith(head_prefix)


def swap_batch_norm(model, groups: int = GROUPS, head_prefix: str = "head_"):
    """A copy of the functional ``model`` with every backbone BatchNormalization replaced by a
    GroupNormalization of the same name, epsilon and channels.

    The copy keeps every other layer's weights (so an ImageNet backbone keeps its convolutions) and
    starts each group norm from the batch norm's scale and offset. Returns ``model`` itself when it
    has no backbone batch norm.
    """
    # lazy: Keras imports TensorFlow (about 4 s here); importing the registry must stay cheap
    import keras
    from keras import layers

    if not any(_is_backbone_bn(la, head_prefix) for la in model.layers):
        return model

    def clone(layer):
        if _is_backbone_bn(layer, head_prefix):
            if layer.axis not in (-1, len(layer.input.shape) - 1):
                raise ValueError(f"{layer.name}: batch norm over axis {layer.axis}; only channels-last is swapped")
            channels = int(layer.moving_mean.shape[0])
            return layers.GroupNormalization(groups=group_count(channels, groups), epsilon=layer.epsilon,
                                             center=layer.center, scale=layer.scale, name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    def call(layer, *args, **kwargs):
        if isinstance(layer, layers.GroupNormalization):
            kwargs.pop("mask", None)  # batch norm's call takes a mask, group norm's does not
        return layer(*args, **kwargs)

    copy = keras.models.clone_model(model, clone_function=clone, call_function=call)
    for old in model.layers:
        new = copy.get_layer(old.name)
        if _is_backbone_bn(old, head_prefix):
            kept = [w for w, keep in ((old.gamma, old.scale), (old.beta, old.center)) if keep]
            new.set_weights([w.numpy() for w in kept])
        elif old.weights:
            new.set_weights(old.get_weights())
    return copy


