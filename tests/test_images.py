"""Image reading: every supported mode becomes RGB uint8; every bad input raises ImageReadError."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from leukemia_core.errors import ImageReadError
from leukemia_core.images import read_image


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_real_samples_read_as_rgb(samples):
    for s in samples:
        arr = read_image(s.path)
        assert arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3
        with Image.open(s.path) as im:  # the decoder's own pixels, unchanged
            np.testing.assert_array_equal(arr, np.asarray(im.convert("RGB")), err_msg=s.path.name)


def test_reads_from_bytes_and_file_object(samples):
    data = samples[0].path.read_bytes()
    a = read_image(data)
    b = read_image(io.BytesIO(data))
    assert np.array_equal(a, b)
    assert np.array_equal(a, read_image(samples[0].path))


@pytest.mark.parametrize("mode,fmt", [
    ("L", "PNG"), ("P", "PNG"), ("RGBA", "PNG"), ("LA", "PNG"), ("1", "PNG"), ("CMYK", "JPEG"),
    ("CMYK", "TIFF"), ("RGB", "BMP"), ("RGB", "TIFF"), ("L", "TIFF"), ("I;16", "PNG"), ("I;16", "TIFF"),
    ("F", "TIFF"),
])
def test_modes_become_rgb_uint8(mode, fmt):
    base = Image.new("RGB", (40, 30), (200, 100, 50))
    if mode == "I;16":
        img = Image.fromarray((np.arange(40 * 30).reshape(30, 40) * 50).astype(np.uint16))
    elif mode == "F":
        img = Image.fromarray(np.linspace(0, 1, 40 * 30, dtype=np.float32).reshape(30, 40))
    else:
        img = base.convert(mode)
    arr = read_image(_save(img, fmt))
    assert arr.shape == (30, 40, 3) and arr.dtype == np.uint8
    flat = arr.reshape(-1, 3).astype(int)
    if mode in ("RGB", "RGBA", "CMYK"):  # the colour itself (JPEG may move it a step)
        assert np.abs(flat - (200, 100, 50)).max() <= (3 if fmt == "JPEG" else 0)
    elif mode in ("L", "LA"):  # ITU-R 601 luma of (200, 100, 50): 124.2
        assert (flat == 124).all()
    elif mode == "1":  # dithered black and white, about as bright as the grey
        assert set(np.unique(flat)) == {0, 255} and (flat[:, 0] == flat[:, 2]).all()
        assert abs(flat.mean() - 124) < 12
    elif mode == "P":  # dithered web palette: the colour on average
        assert np.abs(flat.mean(axis=0) - (200, 100, 50)).max() < 12
    else:  # grey ramps scaled by their range: 16-bit by 65535, float in [0, 1] by 255
        ramp = np.arange(40 * 30) * 50 / 65535 * 255 if mode == "I;16" else np.linspace(0, 1, 40 * 30) * 255
        np.testing.assert_array_equal(flat, np.repeat(np.round(ramp)[:, None], 3, axis=1))


def test_sixteen_bit_keeps_its_range():
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (8, 1))
    arr = read_image(_save(Image.fromarray(ramp), "PNG"))
    assert arr[0, 0, 0] == 0 and arr[0, -1, 0] == 255
    assert np.all(np.diff(arr[0, :, 0].astype(int)) >= 0)


def test_twelve_bit_data_in_sixteen_bit_file_is_scaled_by_4095():
    ramp = np.tile(np.linspace(0, 4095, 64).astype(np.uint16), (8, 1))
    arr = read_image(_save(Image.fromarray(ramp), "PNG"))
    assert arr[0, -1, 0] == 255


def test_rgba_transparent_background_becomes_black():
    img = Image.new("RGBA", (10, 10), (255, 255, 255, 0))
    img.putpixel((5, 5), (255, 0, 0, 255))
    arr = read_image(_save(img, "PNG"))
    assert tuple(arr[0, 0]) == (0, 0, 0) and tuple(arr[5, 5]) == (255, 0, 0)


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (40, 20), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 10, 20))  # white left band
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    arr = read_image(_save(img, "JPEG", exif=exif, quality=95))
    assert arr.shape == (40, 20, 3)  # portrait after transposition
    # turned 90 degrees clockwise: the white left band is now the top band
    assert arr[:8].min() > 200 and arr[12:].max() < 50


def _bomb_png(width: int, height: int) -> bytes:
    """A PNG header that claims a huge image (no real pixel data)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")


BAD_INPUTS = {
    "empty": (b"", "empty"),
    "text": (b"this is not an image, just text\n" * 20, "not an image"),
    "html": (b"<html><body>hello</body></html>", "not an image"),
    "random bytes": (bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8)), "not an image"),
    "truncated png": (None, "corrupt or truncated"),
    "truncated jpeg": (None, "corrupt or truncated"),
    "bomb": (_bomb_png(100_000, 100_000), "above the limit"),
    "zip": (b"PK\x03\x04" + b"\0" * 100, "not an image"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_inputs_raise_one_clear_error(case, samples):
    data, expected = BAD_INPUTS[case]
    if case == "truncated png":
        full = next(s for s in samples if s.path.suffix == ".png").path.read_bytes()
        data = full[: len(full) // 2]
    if case == "truncated jpeg":
        full = next(s for s in samples if s.path.suffix == ".jpg").path.read_bytes()
        data = full[: len(full) // 3]
    with pytest.raises(ImageReadError) as err:
        read_image(data)
    assert expected in str(err.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageReadError, match="no such file"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(ImageReadError, match="no such file"):
        read_image(tmp_path)


def test_pixel_limit_is_configurable():
    data = _save(Image.new("RGB", (100, 100)), "PNG")
    with pytest.raises(ImageReadError, match="megapixels"):
        read_image(data, max_pixels=5000)
