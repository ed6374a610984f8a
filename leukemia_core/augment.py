"""Training-time augmentation, run inside the tf.data pipeline on batches in [0, 1].

Geometry: rotation (any angle: a cell has no up), zoom, shear and flips.
Colour/stain jitter: per-image hue, saturation, brightness, contrast and channel gains, and
grayscale on a share of images. DATA.md measures that global colour alone separates classes on
Aria (0.885 balanced accuracy), so colour is made unreliable during training to push the models
towards cell shape and texture.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf


@dataclass(frozen=True)
class AugmentConfig:
    rotation: float = 0.5       # fraction of a full turn either way (0.5 = any angle)
    zoom: float = 0.15          # +-15 % zoom
    shear: float = 0.1          # shear factor on each axis
    flip: bool = True           # horizontal and vertical
    hue: float = 0.04           # +- hue shift (fraction of the colour wheel)
    saturation: float = 0.35    # saturation scaled by 1 +- this
    brightness: float = 0.12    # +- added
    contrast: float = 0.25      # contrast scaled by 1 +- this
    channel_gain: float = 0.08  # each RGB channel scaled by 1 +- this
    grayscale: float = 0.2      # probability of dropping colour entirely


def geometric_layers(cfg: AugmentConfig, seed: int) -> keras.Sequential:
    """Keras preprocessing layers for the geometric part (active only in training)."""
    steps = []
    if cfg.flip:
        steps.append(keras.layers.RandomFlip("horizontal_and_vertical", seed=seed))
    if cfg.rotation:
        steps.append(keras.layers.RandomRotation(cfg.rotation, fill_mode="reflect", seed=seed + 1))
    if cfg.zoom:
        steps.append(keras.layers.RandomZoom(cfg.zoom, fill_mode="reflect", seed=seed + 2))
    if cfg.shear:
        steps.append(keras.layers.RandomShear(cfg.shear, cfg.shear, fill_mode="reflect", seed=seed + 3))
    return keras.Sequential(steps, name="geometric_augmentation")


def colour_jitter(x: tf.Tensor, cfg: AugmentConfig, seed: tf.Tensor) -> tf.Tensor:
    """Per-image stain/colour jitter on a batch ``(B, H, W, 3)`` float32 in [0, 1]; same range out."""
    b = tf.shape(x)[0]
    s = tf.random.experimental.stateless_split(seed, 7)

    def u(i, lo, hi, shape):
        return tf.random.stateless_uniform(shape, s[i], lo, hi)

    hsv = tf.image.rgb_to_hsv(tf.clip_by_value(x, 0.0, 1.0))
    hue = tf.math.floormod(hsv[..., 0] + u(0, -cfg.hue, cfg.hue, [b, 1, 1]), 1.0)
    sat = tf.clip_by_value(hsv[..., 1] * u(1, 1 - cfg.saturation, 1 + cfg.saturation, [b, 1, 1]), 0.0, 1.0)
    x = tf.image.hsv_to_rgb(tf.stack([hue, sat, hsv[..., 2]], axis=-1))
    x = x * u(2, 1 - cfg.channel_gain, 1 + cfg.channel_gain, [b, 1, 1, 3])
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    x = (x - mean) * u(3, 1 - cfg.contrast, 1 + cfg.contrast, [b, 1, 1, 1]) + mean
    x = x + u(4, -cfg.brightness, cfg.brightness, [b, 1, 1, 1])
    gray = tf.repeat(tf.image.rgb_to_grayscale(x), 3, axis=-1)
    use_gray = tf.cast(u(5, 0.0, 1.0, [b, 1, 1, 1]) < cfg.grayscale, x.dtype)
    x = use_gray * gray + (1 - use_gray) * x
    return tf.clip_by_value(x, 0.0, 1.0)


def make_augmenter(cfg: AugmentConfig | None = None, seed: int = 0):
    """Return ``fn(images, step) -> images`` for use in ``tf.data.Dataset.map``.

    ``images`` is a float32 batch in [0, 1]; ``step`` an int64 counter that makes the colour
    jitter differ per batch while staying reproducible for a given seed.
    """
    cfg = cfg or AugmentConfig()
    geo = geometric_layers(cfg, seed)

    def fn(images, step):
        images = geo(images, training=True)
        return colour_jitter(images, cfg, tf.stack([tf.cast(seed, tf.int64), tf.cast(step, tf.int64)]))

    return fn
