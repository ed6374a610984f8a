"""Images given to the Classify page: kept in memory, decoded, and shrunk for display."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from ..data.images import read_image
from ..errors import ImageReadError

#: Longest side of the copy of an image shown on a page.
DISPLAY_MAX_SIDE = 768


@dataclass
class ImageInput:
    """One image to classify: a display name and its bytes (kept in memory, never on disk)."""

    name: str
    data: bytes

    @cached_property
    def digest(self) -> str:
        """sha256 of the bytes: the key of this image's results."""
        return hashlib.sha256(self.data).hexdigest()


def unique_inputs(items: list[ImageInput]) -> tuple[list[ImageInput], list[tuple[str, str]]]:
    """``(items without repeats, [(name, name of the first with the same bytes)])``: an image given
    twice (same sha256, under any name) is read and counted once."""
    first: dict[str, str] = {}
    unique, repeats = [], []
    for it in items:
        if it.digest in first:
            repeats.append((it.name, first[it.digest]))
        else:
            first[it.digest] = it.name
            unique.append(it)
    return unique, repeats


def decode(item: ImageInput) -> tuple[np.ndarray | None, str]:
    """``(rgb, "")`` or ``(None, message)`` for an unreadable file."""
    buf = io.BytesIO(item.data)
    buf.name = item.name
    try:
        return read_image(buf), ""
    except ImageReadError as exc:
        return None, str(exc)


def display_copy(rgb: np.ndarray, max_side: int = DISPLAY_MAX_SIDE) -> np.ndarray:
    """A copy small enough to show (aspect kept); the image itself when already small.

    ``rgb``: ``uint8 (H, W, 3)``; returns ``uint8 (h, w, 3)`` with ``max(h, w) <= max_side``.
    """
    h, w = rgb.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return rgb
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
