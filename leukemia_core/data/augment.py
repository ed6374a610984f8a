"""Training-time augmentation as Keras layers, so it runs on any Keras backend (TensorFlow, JAX).

The augmentation model sits in front of the classifier only while training
(:func:`leukemia_core.training.train.training_model`); the shipped model never contains it.

* Geometry: rotation (any angle: a cell has no up), zoom, shear and flips, filling with black
  (cell crops are cells on black).
* Colour/stain jitter, per image: hue (rotation in YIQ), saturation, per-channel gains, contrast,
  brightness, and grayscale on a share of images. DATA.md measures that global colour alone
  separates the classes on Aria (0.885 balanced accuracy), so colour is made unreliable during
  training to push the models towards cell shape and texture. Black stays black.
* Stain jitter in a stain space, per image: optical density is split into haematoxylin, eosin and
  residual channels (the Ruifrok-Johnston vectors that ``skimage.color.rgb2hed`` uses), each
  channel is scaled and shifted, and the result is mixed back. Unlike an RGB gain this moves a
  cell's colour the way a thicker or thinner stain, or a longer or shorter staining time, does.
* Resolution loss: a share of images is shrunk by 2x or 3x and enlarged back, or blurred, since
  cells cut from low-magnification fields are soft while single-cell images are sharp.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import keras
import numpy as np
from keras import ops


@dataclass(frozen=True)
class AugmentConfig:
    """Strength of each training augmentation: geometric (rotation, zoom, shear, flips), colour
    (hue, saturation, brightness, contrast, channel gain, grayscale) and resolution loss. Each field
    is a +- range or a probability, as noted beside it.
    """

    rotation: float = 0.5       # fraction of a full turn either way (0.5 = any angle)
    zoom: float = 0.08          # +-8 % zoom
    shear: float = 0.05         # shear factor on each axis
    flip: bool = True           # horizontal and vertical
    hue: float = 0.04           # +- hue rotation (fraction of the colour wheel)
    saturation: float = 0.3     # saturation scaled by 1 +- this
    brightness: float = 0.08    # +- added (cell pixels only)
    contrast: float = 0.2       # contrast scaled by 1 +- this
    channel_gain: float = 0.08  # each RGB channel scaled by 1 +- this
    grayscale: float = 0.1      # probability of dropping colour entirely
    resolution_loss: float = 0.3  # probability of a 2x/3x down-up resize or a blur
    stain_scale: float = 0.15   # each stain channel's density scaled by 1 +- this
    stain_shift: float = 0.05   # +- added to each stain channel's density (optical-density units)

    def with_stain(self, on: bool) -> "AugmentConfig":
        """This configuration, or the same without the stain jitter (``on`` False: an ablation)."""
        return self if on else replace(self, stain_scale=0.0, stain_shift=0.0)


_RGB2YIQ = [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]]
_YIQ2RGB = [[1.0, 0.956, 0.621], [1.0, -0.272, -0.647], [1.0, -1.106, 1.703]]


@keras.saving.register_keras_serializable("leukemia_core")
class ColourJitter(keras.layers.Layer):
    """Per-image stain/colour jitter on ``(B, H, W, 3)`` float32 in [0, 1]; identity at inference."""

    def __init__(self, hue=0.06, saturation=0.4, brightness=0.12, contrast=0.25, channel_gain=0.1,
                 grayscale=0.2, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.hue, self.saturation, self.brightness = hue, saturation, brightness
        self.contrast, self.channel_gain, self.grayscale = contrast, channel_gain, grayscale
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _u(self, shape, lo, hi):
        return keras.random.uniform(shape, lo, hi, seed=self.seed_generator)

    def call(self, x, training=None):
        """``x``: ``float32 (B, H, W, 3)`` in [0, 1] -> the same shape and range; ``x`` itself unless
        ``training`` (black background pixels stay black).
        """
        if not training:
            return x
        b = ops.shape(x)[0]
        cell = ops.cast(ops.max(x, axis=-1, keepdims=True) > 0.03, x.dtype)
        yiq = ops.matmul(x, ops.transpose(ops.convert_to_tensor(_RGB2YIQ, x.dtype)))
        theta = self._u((b, 1, 1), -self.hue, self.hue) * (2 * math.pi)
        sat = self._u((b, 1, 1), 1 - self.saturation, 1 + self.saturation)
        i, q = yiq[..., 1], yiq[..., 2]
        c, s = ops.cos(theta), ops.sin(theta)
        yiq = ops.stack([yiq[..., 0], (i * c - q * s) * sat, (i * s + q * c) * sat], axis=-1)
        x = ops.matmul(yiq, ops.transpose(ops.convert_to_tensor(_YIQ2RGB, x.dtype)))
        x = x * self._u((b, 1, 1, 3), 1 - self.channel_gain, 1 + self.channel_gain)
        mean = ops.sum(x * cell, axis=(1, 2, 3), keepdims=True) / (3 * ops.sum(cell, axis=(1, 2, 3), keepdims=True) + 1e-6)
        x = (x - mean) * self._u((b, 1, 1, 1), 1 - self.contrast, 1 + self.contrast) + mean
        x = x + self._u((b, 1, 1, 1), -self.brightness, self.brightness)
        gray = ops.repeat(ops.mean(x, axis=-1, keepdims=True), 3, axis=-1)
        use_gray = ops.cast(self._u((b, 1, 1, 1), 0.0, 1.0) < self.grayscale, x.dtype)
        x = use_gray * gray + (1 - use_gray) * x
        return ops.clip(x, 0.0, 1.0) * cell

    def get_config(self):
        """The constructor arguments, for saving and loading the layer."""
        return {**super().get_config(), "hue": self.hue, "saturation": self.saturation,
                "brightness": self.brightness, "contrast": self.contrast,
                "channel_gain": self.channel_gain, "grayscale": self.grayscale, "seed": self.seed}


#: Stain vectors (rows: haematoxylin, eosin, residual/DAB) in optical density, each of unit length:
#: the Ruifrok-Johnston matrix, as in ``skimage.color.rgb_from_hed``; and its inverse (OD -> stains).
STAINS = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]])
STAINS /= np.linalg.norm(STAINS, axis=1, keepdims=True)
TO_STAINS = np.linalg.inv(STAINS)


def stain_densities(x):
    """``x``: ``float32 (..., 3)`` RGB in [0, 1] -> the haematoxylin, eosin and residual densities
    ``(..., 3)`` (natural-log optical density, ``-ln(max(x, 1/255))``, separated by :data:`TO_STAINS`)."""
    od = -ops.log(ops.maximum(x, 1.0 / 255.0))
    return ops.matmul(od, ops.convert_to_tensor(TO_STAINS, x.dtype))


@keras.saving.register_keras_serializable("leukemia_core")
class StainJitter(keras.layers.Layer):
    """Per-image stain jitter in haematoxylin-eosin-residual space on ``(B, H, W, 3)`` float32 in
    [0, 1]; identity at inference.

    ``od = -ln(max(x, 1/255))``, ``c = od @ inv(S)`` (stain densities), ``c' = c * a + b`` with ``a``
    in ``1 +- scale`` and ``b`` in ``+- shift`` per image and stain, ``x' = exp(-c' @ S)``. Black
    background pixels stay black.
    """

    def __init__(self, scale=0.15, shift=0.05, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.shift, self.seed = scale, shift, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        """``x``: ``float32 (B, H, W, 3)`` in [0, 1] -> the same shape and range; ``x`` itself unless
        ``training``.
        """
        if not training or (self.scale <= 0 and self.shift <= 0):
            return x
        b = ops.shape(x)[0]
        to_od = ops.convert_to_tensor(STAINS, x.dtype)
        cell = ops.cast(ops.max(x, axis=-1, keepdims=True) > 0.03, x.dtype)
        conc = stain_densities(x)
        a = keras.random.uniform((b, 1, 1, 3), 1 - self.scale, 1 + self.scale, seed=self.seed_generator)
        s = keras.random.uniform((b, 1, 1, 3), -self.shift, self.shift, seed=self.seed_generator)
        od = ops.maximum(ops.matmul(conc * a + s, to_od), 0.0)
        return ops.clip(ops.exp(-od), 0.0, 1.0) * cell

    def get_config(self):
        """The constructor arguments, for saving and loading the layer."""
        return {**super().get_config(), "scale": self.scale, "shift": self.shift, "seed": self.seed}


@keras.saving.register_keras_serializable("leukemia_core")
class ResolutionLoss(keras.layers.Layer):
    """With probability ``rate`` per image: shrink 2x or 3x and enlarge back, or a Gaussian blur."""

    def __init__(self, rate=0.5, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.seed = rate, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        """``x``: ``float32 (B, H, W, 3)`` in [0, 1] -> the same shape and range; ``x`` itself unless
        ``training`` with ``rate > 0``.
        """
        if not training or self.rate <= 0:
            return x
        h, w = x.shape[1], x.shape[2]
        variants = [x]
        # "area" (averaging over each output pixel's footprint) exists on TensorFlow only; other
        # backends (JAX) shrink with antialiased bilinear, also a low-pass, so it runs everywhere.
        tf_backend = keras.backend.backend() == "tensorflow"
        shrink = {"interpolation": "area"} if tf_backend else {"interpolation": "bilinear", "antialias": True}
        for f in (2, 3):
            small = ops.image.resize(x, (max(1, h // f), max(1, w // f)), **shrink)
            variants.append(ops.image.resize(small, (h, w), interpolation="bilinear"))
        variants.append(ops.image.gaussian_blur(x, kernel_size=(5, 5), sigma=(1.2, 1.2)))
        b = ops.shape(x)[0]
        u = keras.random.uniform((b, 1, 1, 1), 0.0, 1.0, seed=self.seed_generator)
        pick = ops.where(u < self.rate, ops.floor(u / self.rate * 3) + 1, 0.0)  # 0 = unchanged
        out = variants[0]
        for k in (1, 2, 3):
            out = ops.where(ops.equal(pick, float(k)), variants[k], out)
        return out

    def get_config(self):
        """The constructor arguments, for saving and loading the layer."""
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


def make_augmenter(cfg: AugmentConfig | None = None, seed: int = 0) -> keras.Sequential:
    """The augmentation pipeline: a ``keras.Sequential`` of batch layers, active only in training.

    Input and output: float32 ``(B, H, W, 3)`` in [0, 1].
    """
    cfg = cfg or AugmentConfig()
    steps = []
    if cfg.flip:
        steps.append(keras.layers.RandomFlip("horizontal_and_vertical", seed=seed))
    if cfg.rotation:
        steps.append(keras.layers.RandomRotation(cfg.rotation, fill_mode="constant", seed=seed + 1))
    if cfg.zoom:
        steps.append(keras.layers.RandomZoom(cfg.zoom, fill_mode="constant", seed=seed + 2))
    if cfg.shear:
        steps.append(keras.layers.RandomShear(cfg.shear, cfg.shear, fill_mode="constant", seed=seed + 3))
    if cfg.stain_scale or cfg.stain_shift:
        steps.append(StainJitter(cfg.stain_scale, cfg.stain_shift, seed=seed + 6, name="stain_jitter"))
    steps.append(ColourJitter(cfg.hue, cfg.saturation, cfg.brightness, cfg.contrast, cfg.channel_gain,
                              cfg.grayscale, seed=seed + 4, name="colour_jitter"))
    if cfg.resolution_loss:
        steps.append(ResolutionLoss(cfg.resolution_loss, seed=seed + 5, name="resolution_loss"))
    return keras.Sequential(steps, name="augmentation")
