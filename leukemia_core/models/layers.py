"""Custom layers of the registered models (imported by the builders that need them)."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="leukemia_core")
class CaffeInput(keras.layers.Layer):
    """RGB in [0, 1] -> BGR in [0, 255] minus the ImageNet channel means (ResNet-50's input)."""

    MEAN_BGR = (103.939, 116.779, 123.68)

    def call(self, x):
        """``x``: ``float32 (..., 3)`` RGB in [0, 1] -> BGR in [0, 255] minus ``MEAN_BGR``, same shape."""
        x = keras.ops.flip(x, axis=-1) * 255.0
        return x - keras.ops.convert_to_tensor(self.MEAN_BGR, dtype=x.dtype)
