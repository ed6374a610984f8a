"""reports.inputs: images kept in memory, decoded with a message instead of an exception, shrunk for display."""

import hashlib
import io

import numpy as np
from PIL import Image

from leukemia_core.reports.inputs import DISPLAY_MAX_SIDE, ImageInput, decode, display_copy


def _png(rgb):
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def test_digest_is_the_sha256_of_the_bytes():
    item = ImageInput("a.png", b"abc")
    assert item.digest == hashlib.sha256(b"abc").hexdigest()


def test_decode_gives_rgb_or_a_message_naming_the_file():
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), np.uint8)
    got, msg = decode(ImageInput("x.png", _png(rgb)))
    assert msg == "" and got.dtype == np.uint8 and got.shape == (5, 7, 3)
    np.testing.assert_array_equal(got, rgb)
    got, msg = decode(ImageInput("broken.png", b"not an image"))
    assert got is None and "broken.png" in msg


def test_display_copy_keeps_aspect_and_small_images():
    small = np.zeros((100, 50, 3), np.uint8)
    assert display_copy(small) is small
    big = np.full((2000, 1000, 3), 200, np.uint8)
    out = display_copy(big)
    assert out.shape == (DISPLAY_MAX_SIDE, DISPLAY_MAX_SIDE // 2, 3) and out.dtype == np.uint8
    assert (out == 200).all()
    assert display_copy(np.zeros((10, 2000, 3), np.uint8), 100).shape == (1, 100, 3)  # at least one pixel
