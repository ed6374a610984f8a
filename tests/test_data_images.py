"""Image reading: every supported mode becomes RGB uint8; every bad input raises ImageReadError."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from leukemia_core.data.images import read_image
from leukemia_core.errors import ImageReadError


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


def test_to_uint8_exact_values():
    from leukemia_core.data.images import _to_uint8
    out = _to_uint8(np.array([True, False]))
    assert out.dtype == np.uint8 and out.tolist() == [255, 0]
    u8 = np.array([0, 7, 255], np.uint8)
    assert _to_uint8(u8) is u8
    # 12-bit data in a 16-bit array: by 4095 (265 -> 16.5 rounds to 17; by 4096 it would be 16)
    assert _to_uint8(np.array([0, 265, 2048, 4095], np.uint16)).tolist() == [0, 17, 128, 255]
    # one above 12 bits: by the full 16-bit range (4096 / 65535 * 255 = 15.9)
    assert _to_uint8(np.array([0, 4096], np.uint16)).tolist() == [0, 16]
    assert _to_uint8(np.array([0, 65535], np.uint16)).tolist() == [0, 255]
    # signed: negatives clip to 0; 8-bit signed by 127
    assert _to_uint8(np.array([-300, 0, 1000], np.int16)).tolist() == [0, 0, 62]  # 12-bit rule: 1000 / 4095
    assert _to_uint8(np.array([-3, 0, 1, 127], np.int8)).tolist() == [0, 0, 2, 255]
    assert _to_uint8(np.array([[0, 100000]], np.int32)).tolist() == [[0, 0]]  # 1e5 of 2^31 - 1
    # floats: [0, 1] scaled by 255; anything above 1 taken as 0-255 already, clipped
    assert _to_uint8(np.array([0.0, 0.5, 1.0], np.float32)).tolist() == [0, 128, 255]
    assert _to_uint8(np.array([0.0, 1.5, 2.0])).tolist() == [0, 2, 2]
    assert _to_uint8(np.array([-0.5, 0.2, 1.0])).tolist() == [0, 51, 255]
    assert _to_uint8(np.array([-20.0, 100.4, 300.0, np.nan])).tolist() == [0, 100, 255, 0]
    # empty arrays stay empty
    for dt in (np.uint16, np.float32):
        e = _to_uint8(np.zeros((0, 3), dt))
        assert e.shape == (0, 3) and e.dtype == np.uint8


def test_is_image_path():
    from pathlib import Path

    from leukemia_core.data.images import is_image_path
    assert [is_image_path(Path(n)) for n in ("a.png", "B.JPG", "c.tiff", "d.jpeg", "e.bmp", "f.tif")] == [True] * 6
    assert [is_image_path(Path(n)) for n in ("notes.txt", ".hidden.png", "a.gif", "png", "a.png.zip")] == [False] * 5
    assert is_image_path(Path("XX.XX.png"))


def _padded_png(size: int) -> bytes:
    """A valid 4 x 3 PNG followed by zeros up to ``size`` bytes (PIL ignores data after IEND)."""
    data = _save(Image.new("RGB", (4, 3), (10, 20, 30)), "PNG")
    return data + b"\0" * (size - len(data))


def test_byte_limit_for_files_and_streams(tmp_path, monkeypatch):
    import io

    import leukemia_core.data.images as images
    monkeypatch.setattr(images, "MAX_BYTES", 2 ** 20)  # 1 MB
    at = tmp_path / "at.png"
    at.write_bytes(_padded_png(2 ** 20))
    assert read_image(at).shape == (3, 4, 3)  # exactly at the limit is fine
    over = tmp_path / "over.png"
    over.write_bytes(_padded_png(2 ** 20 + 600_000))  # 1.57 MB
    with pytest.raises(ImageReadError) as err:
        read_image(over)
    assert str(err.value) == f"{over}: file is 2 MB, above the 1 MB limit"
    assert read_image(io.BytesIO(_padded_png(2 ** 20))).shape == (3, 4, 3)
    stream = io.BytesIO(_padded_png(2 ** 20 + 1))
    stream.name = "upload.png"
    with pytest.raises(ImageReadError) as err:
        read_image(stream)
    assert str(err.value) == "upload.png: file is above the 1 MB limit"


def test_error_messages_name_the_source():
    import io
    with pytest.raises(ImageReadError) as err:
        read_image(io.BytesIO(b""))
    assert str(err.value) == "uploaded image: the file is empty"
    f = io.BytesIO(b"not an image")
    f.name = "cells.png"
    with pytest.raises(ImageReadError) as err:
        read_image(f)
    assert str(err.value) == "cells.png: not an image file this program can read (expected BMP, PNG, JPEG or TIFF)"
    with pytest.raises(ImageReadError) as err:
        read_image(_bomb_png(1500, 1001), max_pixels=1_500_000)
    assert str(err.value) == "uploaded image: image is 1500x1001 pixels, above the limit of 2 megapixels"
    # exactly at the limit passes the size check (then fails on the missing pixel data)
    with pytest.raises(ImageReadError, match="corrupt or truncated"):
        read_image(_bomb_png(1500, 1000), max_pixels=1_500_000)
    # PIL's own decompression-bomb warning (above 89 megapixels) is turned into the same kind of error
    with pytest.raises(ImageReadError) as err:
        read_image(_bomb_png(10_000, 10_000), max_pixels=200_000_000)
    assert str(err.value) == ("uploaded image: image is above the limit of 200 megapixels; "
                              "too large to decode safely")
    with pytest.raises(ImageReadError) as err:
        read_image(_bomb_png(10_000, 10_000), max_pixels=150_500_001)  # 150.500001 rounds up
    assert str(err.value).startswith("uploaded image: image is above the limit of 151 megapixels;")


def test_one_pixel_wide_and_high_images():
    assert read_image(_save(Image.new("RGB", (1, 5), (1, 2, 3)), "PNG")).shape == (5, 1, 3)
    assert read_image(_save(Image.new("RGB", (5, 1), (1, 2, 3)), "PNG")).tolist() == [[[1, 2, 3]] * 5]


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I;16L", "I;16N", "I", "F"])
def test_deep_grey_modes_are_scaled_not_clipped(mode):
    from leukemia_core.data.images import _pil_to_rgb
    arr = np.array([[0, 1000, 4095]], np.float32 if mode == "F" else np.int32)
    if mode == "F":
        arr = arr / 4095
    img = Image.fromarray(arr) if mode in ("I", "F") else Image.new(mode, (3, 1))
    if mode not in ("I", "F"):
        img.putdata([0, 1000, 4095])
    assert img.mode == mode
    out = _pil_to_rgb(img)
    assert out.dtype == np.uint8 and out.shape == (1, 3, 3)
    assert out[0, :, 0].tolist() == [0, 62, 255] and (out == out[..., :1]).all()


@pytest.mark.parametrize("mode", ["RGBA", "LA", "PA", "P"])
def test_transparency_becomes_black(mode):
    from leukemia_core.data.images import _pil_to_rgb
    rgba = Image.new("RGBA", (3, 1))
    rgba.putdata([(200, 200, 200, 0), (200, 200, 200, 128), (200, 200, 200, 255)])
    if mode == "RGBA":
        img = rgba
    elif mode == "LA":
        img = rgba.convert("LA")
    elif mode == "PA":
        img = Image.new("PA", (3, 1))
        img.putpalette([200, 200, 200] * 256)
        img.putdata([(0, 0), (0, 128), (0, 255)])
    else:  # palette image with a transparent index (as GIF/PNG store it)
        img = Image.new("P", (3, 1))
        img.putpalette([200, 200, 200, 200, 200, 200])
        img.putdata([0, 1, 1])
        img.info["transparency"] = 0
    assert img.mode == mode
    out = _pil_to_rgb(img)
    assert out.dtype == np.uint8
    if mode == "P":  # palette transparency is all or nothing
        assert out[0].tolist() == [[0, 0, 0], [200, 200, 200], [200, 200, 200]]
    else:
        assert out[0].tolist() == [[0, 0, 0], [100, 100, 100], [200, 200, 200]]
    # a grey image with a transparency key is not treated as transparent (only palettes are)
    grey = Image.new("L", (2, 1), 200)
    grey.info["transparency"] = 200
    assert _pil_to_rgb(grey).tolist() == [[[200, 200, 200]] * 2]
    # an opaque palette image is its colours
    pal = Image.new("P", (1, 1))
    pal.putpalette([9, 8, 7])
    assert _pil_to_rgb(pal).tolist() == [[[9, 8, 7]]]
