"""Custom layers of the registered models (imported by the builders that need them)."""

from __future__ import annotations

import keras
import numpy as np

from ..data.augment import stain_densities


@keras.saving.register_keras_serializable(package="leukemia_core")
class CaffeInput(keras.layers.Layer):
    """RGB in [0, 1] -> BGR in [0, 255] minus the ImageNet channel means (ResNet-50's input)."""

    MEAN_BGR = (103.939, 116.779, 123.68)

    def call(self, x):
        """``x``: ``float32 (..., 3)`` RGB in [0, 1] -> BGR in [0, 255] minus ``MEAN_BGR``, same shape."""
        x = keras.ops.flip(x, axis=-1) * 255.0
        return x - keras.ops.convert_to_tensor(self.MEAN_BGR, dtype=x.dtype)


def masked_moments(x, values, black_level: float):
    """Per-crop statistics over the crop's non-black pixels (``max`` channel of ``x`` above
    ``black_level``): ``(mask (N, H, W, 1), count (N, 1, 1, 1), mean and variance of values per
    channel (N, 1, 1, C))``; a crop with no such pixel gets mean and variance 0."""
    ops = keras.ops
    mask = ops.cast(ops.max(x, axis=-1, keepdims=True) > black_level, x.dtype)
    n = ops.sum(mask, axis=(1, 2, 3), keepdims=True)
    safe_n = ops.maximum(n, 1.0)
    mean = ops.sum(values * mask, axis=(1, 2), keepdims=True) / safe_n
    var = ops.sum(ops.square(values - mean) * mask, axis=(1, 2), keepdims=True) / safe_n
    return mask, n, mean, var


# sRGB (D65) <-> CIE XYZ, and the D65 white point: the CIE 1976 L*a*b* definitions.
_RGB_TO_XYZ = ((0.412453, 0.357580, 0.180423), (0.212671, 0.715160, 0.072169), (0.019334, 0.119193, 0.950227))
_WHITE = (0.950456, 1.0, 1.088754)


@keras.saving.register_keras_serializable(package="leukemia_core")
class CellColourStandardise(keras.layers.Layer):
    """Give every cell the same colour statistics: each crop's pixels in CIE L*a*b*, standardised to
    one mean and spread per channel, back to RGB in [0, 1].

    Why: a lab's stain, lamp and camera shift the colour of all its cells alike, and a network learns
    that shift as the lab's signature. Standardising each crop by its own statistics, the same way in
    training and at inference, removes the first and second moments of that shift while keeping the
    colour contrasts inside the cell (nucleus against cytoplasm). The statistics are taken over the
    crop's non-black pixels, so a cell on black is standardised over the cell alone and the black
    stays black; a crop with fewer than ``min_pixels`` such pixels passes unchanged.
    """

    #: Target mean and standard deviation of L*, a*, b* (a stained white cell's typical values).
    TARGET_MEAN = (50.0, 20.0, -15.0)
    TARGET_STD = (15.0, 10.0, 10.0)

    def __init__(self, black_level: float = 8.0 / 255.0, min_pixels: int = 20, **kwargs):
        super().__init__(**kwargs)
        self.black_level = float(black_level)
        self.min_pixels = int(min_pixels)

    def _to_lab(self, x):
        ops = keras.ops
        lin = ops.where(x <= 0.04045, x / 12.92, ops.power((ops.maximum(x, 0.0) + 0.055) / 1.055, 2.4))
        m = ops.convert_to_tensor(_RGB_TO_XYZ, dtype=x.dtype)
        xyz = ops.matmul(lin, ops.transpose(m)) / ops.convert_to_tensor(_WHITE, dtype=x.dtype)
        f = ops.where(xyz > 0.008856, ops.power(ops.maximum(xyz, 1e-6), 1.0 / 3.0), 7.787 * xyz + 16.0 / 116.0)
        fx, fy, fz = f[..., 0:1], f[..., 1:2], f[..., 2:3]
        return ops.concatenate([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)

    def _to_rgb(self, lab):
        ops = keras.ops
        fy = (lab[..., 0:1] + 16.0) / 116.0
        f = ops.concatenate([lab[..., 1:2] / 500.0 + fy, fy, fy - lab[..., 2:3] / 200.0], axis=-1)
        t = ops.where(f > 0.206893, f * f * f, (f - 16.0 / 116.0) / 7.787)
        xyz = t * ops.convert_to_tensor(_WHITE, dtype=lab.dtype)
        inv = ops.convert_to_tensor(np.linalg.inv(np.array(_RGB_TO_XYZ)).astype("float32"), dtype=lab.dtype)
        lin = ops.clip(ops.matmul(xyz, ops.transpose(inv)), 0.0, 1.0)
        srgb = ops.where(lin <= 0.0031308, 12.92 * lin, 1.055 * ops.power(ops.maximum(lin, 1e-8), 1.0 / 2.4) - 0.055)
        return ops.clip(srgb, 0.0, 1.0)

    def call(self, x):
        """``x``: ``float32 (N, H, W, 3)`` RGB in [0, 1] -> the same shape, each crop standardised."""
        ops = keras.ops
        lab = self._to_lab(x)
        mask, n, mean, var = masked_moments(x, lab, self.black_level)
        target_mean = ops.convert_to_tensor(self.TARGET_MEAN, dtype=x.dtype)
        target_std = ops.convert_to_tensor(self.TARGET_STD, dtype=x.dtype)
        std_lab = (lab - mean) / (ops.sqrt(var) + 1e-3) * target_std + target_mean
        out = self._to_rgb(std_lab) * mask
        return ops.where(n >= float(self.min_pixels), out, x)

    def get_config(self):
        """The layer's settings, for saving (Keras calls it)."""
        return {**super().get_config(), "black_level": self.black_level, "min_pixels": self.min_pixels}



@keras.saving.register_keras_serializable(package="leukemia_core")
class HaematoxylinDensity(keras.layers.Layer):
    """The crop's haematoxylin density alone, in place of its colour, standardised per crop:
    ``od = -ln(x)`` per channel, separated into stains by the Ruifrok-Johnston vectors; the
    haematoxylin part's mean and spread over the crop's non-black pixels are set to 0.5 and
    ``spread`` (clipped to [0, 1]) and repeated on the three channels the backbone reads.

    Why: haematoxylin stains the nucleus (chromatin texture, nucleoli, the nucleus-to-cytoplasm
    ratio), which is what tells a blast; the eosin part, the lamp's colour and the overall stain
    strength (C-NMC's cells hold several times the haematoxylin of Aria's) carry more of a lab, so
    each crop is measured against its own mean. Black pixels (a cell on black) stay 0; a crop with
    fewer than ``min_pixels`` non-black pixels gives zeros.
    """

    def __init__(self, black_level: float = 8.0 / 255.0, spread: float = 0.15, min_pixels: int = 20, **kwargs):
        super().__init__(**kwargs)
        self.black_level = float(black_level)
        self.spread = float(spread)
        self.min_pixels = int(min_pixels)

    def density(self, x):
        """``x``: ``float32 (..., 3)`` RGB in [0, 1] -> haematoxylin density ``(..., 1)`` (natural-log units)."""
        return stain_densities(x)[..., :1]

    def call(self, x):
        """``x``: ``float32 (N, H, W, 3)`` RGB in [0, 1] -> ``(N, H, W, 3)``, three equal channels in [0, 1]."""
        ops = keras.ops
        h = self.density(x)
        mask, n, mean, var = masked_moments(x, h, self.black_level)
        std = ops.sqrt(var)
        z = ops.clip(0.5 + (h - mean) / (std + 1e-3) * self.spread, 0.0, 1.0) * mask
        z = ops.where(n >= float(self.min_pixels), z, ops.zeros_like(z))
        return ops.concatenate([z, z, z], axis=-1)

    def get_config(self):
        """The layer's settings, for saving (Keras calls it)."""
        return {**super().get_config(), "black_level": self.black_level, "spread": self.spread,
                "min_pixels": self.min_pixels}
