"""Builders for the registered models.

Every model is a *flat* Keras graph (``keras.Model(image, probs)`` whose layers include the
backbone's own), never a backbone nested as one layer: tf-keras-vis needs that to reach the
Grad-CAM layer. Head layers are named ``head_*`` so that fine-tuning can freeze the rest.

Keras is imported inside the builders, so that registering the models (and listing them, reading
their specs) costs nothing: the app renders its first page while TensorFlow loads.
"""

from __future__ import annotations

from .registry import COLOURS, INPUT_NAME, LOGITS_LAYER, PROBS_LAYER, register_model

HEAD_PREFIX = "head_"


def _classifier(x, dropout: float):
    # lazy: Keras imports TensorFlow (about 4 s here); importing the registry must stay cheap
    from keras import layers

    x = layers.GlobalAveragePooling2D(name=f"{HEAD_PREFIX}pool")(x)
    x = layers.Dropout(dropout, name=f"{HEAD_PREFIX}dropout")(x)
    x = layers.Dense(2, name=LOGITS_LAYER)(x)
    return layers.Activation("softmax", name=PROBS_LAYER, dtype="float32")(x)


def _input(size: int, colour: str):
    """The model's input and what the first layer reads: the crop as is, each crop's colour
    standardised inside the graph (:class:`~leukemia_core.models.layers.CellColourStandardise`), or
    its haematoxylin density alone (:class:`~leukemia_core.models.layers.HaematoxylinDensity`), so
    that every reader of the model (Keras, ONNX, Grad-CAM) sees the same input as training did."""
    # lazy: Keras imports TensorFlow (about 4 s here); importing the registry must stay cheap
    import keras

    from .layers import CellColourStandardise, HaematoxylinDensity

    if colour not in COLOURS:
        raise ValueError(f"colour must be one of {', '.join(map(repr, COLOURS))}, not {colour!r}")
    inputs = keras.Input((size, size, 3), name=INPUT_NAME)
    if colour == "standardised":
        return inputs, CellColourStandardise(name="colour_standardise")(inputs)
    if colour == "haematoxylin":
        return inputs, HaematoxylinDensity(name="haematoxylin_density")(inputs)
    return inputs, inputs


def _backbone(app, size: int, weights, preprocess, colour: str = "as is"):
    inputs, x = _input(size, colour)
    x = preprocess(x)
    base = app(include_top=False, weights=weights, input_tensor=x)
    return inputs, base.output


@register_model("proposed", input_size=80, cam_layer="attention_map",
                description="EfficientNet-B0 + multi-head self-attention over its feature map + dense head")
def proposed(size: int, weights=None, heads: int = 4, key_dim: int = 64, dropout: float = 0.4,
             units: tuple[int, int] = (256, 64), colour: str = "as is") -> "keras.Model":
    """EfficientNet-B0; self-attention with the feature map's spatial positions as tokens.

    ``feature map (h, w, 1280) -> tokens (h*w, 1280) -> x + MHA(x, x) -> LayerNorm -> (h, w, 1280)``
    (the ``attention_map`` layer, which Grad-CAM explains), then global average pooling and two
    ``Dense -> BatchNorm -> LeakyReLU -> Dropout`` blocks before the 2-class output. No positional
    encoding: a cell's class does not depend on where in the frame a feature sits, and rotation
    augmentation would blur any positional code anyway.
    """
    # lazy: Keras imports TensorFlow (about 4 s here); importing the registry must stay cheap
    import keras
    from keras import layers

    inputs, feat = _backbone(keras.applications.EfficientNetB0, size, weights,
                             layers.Rescaling(255.0, name="to_255"), colour)
    h, w, c = feat.shape[1], feat.shape[2], feat.shape[3]
    tokens = layers.Reshape((h * w, c), name=f"{HEAD_PREFIX}tokens")(feat)
    att = layers.MultiHeadAttention(heads, key_dim, dropout=0.1, name=f"{HEAD_PREFIX}mhsa")(tokens, tokens)
    x = layers.Add(name=f"{HEAD_PREFIX}residual")([tokens, att])
    x = layers.LayerNormalization(name=f"{HEAD_PREFIX}layernorm")(x)
    x = layers.Reshape((h, w, c), name="attention_map")(x)
    x = layers.GlobalAveragePooling2D(name=f"{HEAD_PREFIX}pool")(x)
    for i, n in enumerate(units):
        x = layers.Dense(n, name=f"{HEAD_PREFIX}dense{i}")(x)
        x = layers.BatchNormalization(name=f"{HEAD_PREFIX}bn{i}")(x)
        x = layers.LeakyReLU(negative_slope=0.1, name=f"{HEAD_PREFIX}lrelu{i}")(x)
        x = layers.Dropout(dropout if i == 0 else dropout / 2, name=f"{HEAD_PREFIX}dropout{i}")(x)
    x = layers.Dense(2, name=LOGITS_LAYER)(x)
    out = layers.Activation("softmax", name=PROBS_LAYER, dtype="float32")(x)
    return keras.Model(inputs, out, name="proposed")


@register_model("efficientnet_b0", input_size=80, cam_layer="top_activation",
                description="EfficientNet-B0 with a plain classifier (baseline)")
def efficientnet_b0(size: int, weights=None, dropout: float = 0.2, colour: str = "as is") -> "keras.Model":
    """EfficientNet-B0 backbone with the shared classifier head; input ``float32 (N, size, size, 3)``
    in [0, 1] (rescaled to [0, 255] inside the graph), output P(HEM), P(ALL) ``(N, 2)``.
    """
    # lazy: Keras imports TensorFlow (about 4 s here); importing the registry must stay cheap
    import keras
    from keras import layers
    # Keras' EfficientNet rescales from [0, 255] and normalises inside its graph.
    inputs, feat = _backbone(keras.applications.EfficientNetB0, size, weights,
                             layers.Rescaling(255.0, name="to_255"), colour)
    return keras.Model(inputs, _classifier(feat, dropout), name="efficientnet_b0")


@register_model("resnet50", input_size=80, cam_layer="conv5_block3_out",
                description="ResNet-50 with a plain classifier (baseline)")
def resnet50(size: int, weights=None, dropout: float = 0.2, colour: str = "as is") -> "keras.Model":
    """ResNet-50 backbone (Caffe-style BGR input made inside the graph by :class:`CaffeInput`) with
    the shared classifier head; input ``float32 (N, size, size, 3)`` in [0, 1], output ``(N, 2)`` softmax.
    """
    # lazy: Keras imports TensorFlow (about 4 s here); importing the registry must stay cheap
    import keras

    from .layers import CaffeInput

    inputs, feat = _backbone(keras.applications.ResNet50, size, weights, CaffeInput(name="caffe_input"), colour)
    return keras.Model(inputs, _classifier(feat, dropout), name="resnet50")


# Grad-CAM on mixed7: at the 80 px cell crops mixed10 is 1 x 1 (every map flat, measured by cam-check);
# mixed7 is 3 x 3, the same grid as the other models' last layers.
@register_model("inception_v3", input_size=80, cam_layer="mixed7",
                description="InceptionV3 with a plain classifier (baseline)")
def inception_v3(size: int, weights=None, dropout: float = 0.2, colour: str = "as is") -> "keras.Model":
    """Inception-v3 backbone with the shared classifier head; input ``float32 (N, size, size, 3)``
    in [0, 1] (scaled to [-1, 1] inside the graph), output ``(N, 2)`` softmax.
    """
    # lazy: Keras imports TensorFlow (about 4 s here); importing the registry must stay cheap
    import keras
    from keras import layers
    if size < 75:
        raise ValueError("inception_v3 needs an input of at least 75 pixels")
    inputs, feat = _backbone(keras.applications.InceptionV3, size, weights,
                             layers.Rescaling(2.0, offset=-1.0, name="to_pm1"), colour)
    return keras.Model(inputs, _classifier(feat, dropout), name="inception_v3")


@register_model("tiny_cnn", input_size=32, cam_layer="cam_conv", imagenet=False, test_only=True,
                description="a two-layer CNN for tests (seconds to build and train)")
def tiny_cnn(size: int, weights=None, dropout: float = 0.0, colour: str = "as is") -> "keras.Model":
    """Two small convolutions and the shared head, for tests (a few thousand weights); input
    ``float32 (N, size, size, 3)`` in [0, 1], output ``(N, 2)`` softmax; CAM layer ``cam_conv``.
    """
    # lazy: Keras imports TensorFlow (about 4 s here); importing the registry must stay cheap
    import keras
    from keras import layers
    inputs, x = _input(size, colour)
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(x)
    x = layers.MaxPooling2D(name="pool1")(x)
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="cam_conv")(x)
    return keras.Model(inputs, _classifier(x, dropout), name="tiny_cnn")


@register_model("tiny_bn_cnn", input_size=32, cam_layer="cam_conv", imagenet=False, test_only=True,
                description="the two-layer test CNN with a batch norm (tests of the normalisation swap)")
def tiny_bn_cnn(size: int, weights=None, dropout: float = 0.0, colour: str = "as is") -> "keras.Model":
    """:func:`tiny_cnn` with a BatchNormalization after its first convolution, for tests of
    ``norm="group"``; input ``float32 (N, size, size, 3)`` in [0, 1], output ``(N, 2)`` softmax.
    """
    # lazy: Keras imports TensorFlow (about 4 s here); importing the registry must stay cheap
    import keras
    from keras import layers
    inputs, x = _input(size, colour)
    x = layers.Conv2D(8, 3, padding="same", name="conv1")(x)
    x = layers.BatchNormalization(name="bn1")(x)
    x = layers.Activation("relu", name="relu1")(x)
    x = layers.MaxPooling2D(name="pool1")(x)
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="cam_conv")(x)
    return keras.Model(inputs, _classifier(x, dropout), name="tiny_bn_cnn")


def set_backbone_trainable(model, trainable: bool) -> None:
    """Freeze or unfreeze every layer that is not part of the head (fine-tuning)."""
    for layer in model.layers:
        if layer.name.startswith(HEAD_PREFIX) or layer.name in (LOGITS_LAYER, PROBS_LAYER, "attention_map"):
            layer.trainable = True
        elif layer.weights:
            layer.trainable = trainable
