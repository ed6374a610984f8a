"""Reading microscope images safely.

Every reader in the package goes through :func:`read_image`, which returns an RGB ``uint8`` array
whatever the file held (grayscale, palette, RGBA, CMYK, 16-bit, EXIF-rotated) and raises
:class:`~leukemia_core.errors.ImageReadError` for anything it cannot read.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageReadError

#: File name endings the dataset readers pick up (lower case).
IMAGE_SUFFIXES = (".bmp", ".png", ".jpg", ".jpeg", ".tif", ".tiff")

#: Largest image accepted, in pixels (width x height). A 450x450 C-NMC cell is 0.2 MP and a
#: whole-slide tile rarely exceeds 40 MP; anything larger is refused before it is decoded.
MAX_PIXELS = 60_000_000

#: Largest file accepted, in bytes.
MAX_BYTES = 200 * 1024 * 1024



@dataclass(frozen=True)
class HeldImage:
    """An image held in memory (an upload): its file name and bytes. It stands where a path would
    in a :class:`~leukemia_core.data.datasets.Record`, reads the same bytes every time (a cell is
    found once, and the whole image may be read again when none is), and prints as its name."""

    name: str
    data: bytes = field(repr=False)

    def read(self, n: int = -1) -> bytes:
        """The whole file's bytes (``n`` is ignored: the size limits are checked by the reader)."""
        return self.data

    def __str__(self) -> str:
        return self.name


ImageSource = Union[str, os.PathLike, bytes, bytearray, BinaryIO, HeldImage]


def _name_of(source: ImageSource) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return getattr(source, "name", None) or "uploaded image"


def _read_bytes(source: ImageSource) -> bytes:
    name = _name_of(source)
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ImageReadError(f"{name}: no such file")
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ImageReadError(f"{name}: file is {size / 2**20:.0f} MB, above the {MAX_BYTES // 2**20} MB limit")
        data = path.read_bytes()
    else:
        data = source.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise ImageReadError(f"{name}: file is above the {MAX_BYTES // 2**20} MB limit")
    if not data:
        raise ImageReadError(f"{name}: the file is empty")
    return data


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    """Scale an integer or float array of any depth to uint8 by its dtype's range."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.integer):
        info = np.iinfo(arr.dtype)
        top = info.max
        # 16-bit microscopy files often use only 12 bits; scale by what the data uses when so.
        peak = int(arr.max()) if arr.size else 0
        if top > 255 and 0 < peak <= 4095 and info.bits >= 16:
            top = 4095
        arr = np.clip(arr.astype(np.float64), 0, top) / top * 255.0
        return np.round(arr).astype(np.uint8)
    arr = arr.astype(np.float64)
    peak = float(np.nanmax(arr)) if arr.size else 0.0
    scale = 255.0 if peak <= 1.0 else 1.0
    return np.round(np.clip(np.nan_to_num(arr) * scale, 0, 255)).astype(np.uint8)


def _pil_to_rgb(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in ("RGB",):
        return np.asarray(img, dtype=np.uint8)
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img)
        gray = _to_uint8(arr)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        # Transparent areas become black, the background of segmented cell images.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"), dtype=np.uint8)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def read_image(source: ImageSource, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read one image into an RGB array.

    Args:
        source: a path, the file's bytes, or an open binary file (such as a Streamlit upload).
        max_pixels: refuse images with more pixels than this (decompression-bomb guard).

    Returns:
        ``uint8`` array of shape ``(H, W, 3)``, values 0-255, EXIF orientation applied.
        16-bit images are scaled by their bit depth (12-bit data in 16-bit files by 4095).

    Raises:
        ImageReadError: the input is missing, empty, not an image, corrupt or truncated, has an
            unsupported layout, or is larger than ``max_pixels``.
    """
    name = _name_of(source)
    data = _read_bytes(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise ImageReadError(
                        f"{name}: image is {width}x{height} pixels, above the limit of "
                        f"{max_pixels / 1e6:.0f} megapixels")
                if width == 0 or height == 0:
                    raise ImageReadError(f"{name}: image has no pixels")
                img.load()
                img = ImageOps.exif_transpose(img)
                arr = _pil_to_rgb(img)
    except ImageReadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageReadError(f"{name}: image is above the limit of {max_pixels / 1e6:.0f} megapixels; "
                             f"too large to decode safely") from None
    except UnidentifiedImageError:
        raise ImageReadError(f"{name}: not an image file this program can read "
                             f"(expected BMP, PNG, JPEG or TIFF)") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageReadError(f"{name}: the image is corrupt or truncated ({exc})") from None
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ImageReadError(f"{name}: unsupported image layout {arr.shape}")
    return np.ascontiguousarray(arr)


def is_image_path(path: Path) -> bool:
    """True when the file name ends in one of :data:`IMAGE_SUFFIXES` and is not hidden."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")
