"""BCCD (Blood Cell Count and Detection): smears from a third lab with human-drawn boxes.

Layout, as distributed::

    <root>/JPEGImages/BloodImage_NNNNN.jpg
    <root>/Annotations/BloodImage_NNNNN.xml        Pascal VOC boxes: WBC, RBC, Platelets
    <root>/ImageSets/Main/{train,val}.txt          the dataset's own image-level split

Every white cell in BCCD is a normal leukocyte (neutrophils, eosinophils, lymphocytes, monocytes),
so every image is ``hem``. The dataset's own split is image-level, and several images may come from
one slide, so the roles here are contiguous blocks of file numbers instead: the last
:data:`BCCD_TEST_FRACTION` of the numbers is **test** (reported only), the
:data:`BCCD_VAL_FRACTION` before it **val**, the rest **train**; groups are blocks of
:data:`BCCD_BLOCK` consecutive numbers inside a role.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from ..errors import DatasetLayoutError

BCCD_TEST_FRACTION = 0.3
BCCD_VAL_FRACTION = 0.2
BCCD_BLOCK = 10
_NUMBER = re.compile(r"(\d+)(?!.*\d)")


@dataclass(frozen=True)
class Box:
    """One human-drawn box: ``kind`` (``"WBC"``, ``"RBC"``, ``"Platelets"``) and pixel corners
    ``x0, y0`` (inclusive) to ``x1, y1`` (exclusive)."""

    kind: str
    x0: int
    y0: int
    x1: int
    y1: int

    def contains(self, x: float, y: float) -> bool:
        """True when the point ``(x, y)`` (px) lies inside the box."""
        return self.x0 <= x <= self.x1 and self.y0 <= y <= self.y1

    def iou(self, other: tuple[int, int, int, int]) -> float:
        """Intersection over union with ``other = (x0, y0, x1, y1)``, in ``[0, 1]``."""
        ix = max(0, min(self.x1, other[2]) - max(self.x0, other[0]))
        iy = max(0, min(self.y1, other[3]) - max(self.y0, other[1]))
        inter = ix * iy
        union = (self.x1 - self.x0) * (self.y1 - self.y0) + (other[2] - other[0]) * (other[3] - other[1]) - inter
        return inter / union if union > 0 else 0.0


def is_bccd(root: Path) -> bool:
    """True when ``root`` has BCCD's ``JPEGImages/`` and ``Annotations/`` folders."""
    root = Path(root)
    return (root / "JPEGImages").is_dir() and (root / "Annotations").is_dir()


def read_boxes(xml_path: Path, kind: str | None = "WBC") -> list[Box]:
    """The boxes of one Pascal VOC annotation file (only ``kind`` ones; every box when ``None``).

    Raises:
        DatasetLayoutError: the file is missing or is not a VOC annotation.
    """
    try:
        tree = ET.parse(xml_path).getroot()
    except (OSError, ET.ParseError) as e:
        raise DatasetLayoutError(f"{xml_path}: not a readable Pascal VOC annotation ({e})") from None
    out = []
    for obj in tree.iter("object"):
        name = (obj.findtext("name") or "").strip()
        b = obj.find("bndbox")
        if b is None or (kind is not None and name != kind):
            continue
        x0, y0, x1, y1 = (int(round(float(b.findtext(k) or 0))) for k in ("xmin", "ymin", "xmax", "ymax"))
        out.append(Box(name, x0, y0, x1, y1))
    return out


def bccd_roles(root: Path) -> dict[str, str]:
    """``{image stem: role}`` for every image in ``JPEGImages/`` (see the module docstring)."""
    root = Path(root)
    stems = sorted((p.stem for p in (root / "JPEGImages").glob("*.jpg")), key=_number)
    n = len(stems)
    n_test = int(round(n * BCCD_TEST_FRACTION)) if n > 2 else 0
    n_val = int(round(n * BCCD_VAL_FRACTION)) if n > 2 else 0
    n_train = n - n_test - n_val
    return {s: "train" if i < n_train else "val" if i < n_train + n_val else "test" for i, s in enumerate(stems)}


def _number(stem: str) -> int:
    m = _NUMBER.search(stem)
    return int(m.group(1)) if m else 0


def bccd_types(root: Path) -> dict[str, str]:
    """``{image stem: white-cell types}`` from the collection's ``index.csv`` (``wbc_types``: the
    source's type labels, several joined by ``+``, e.g. ``neutrophil+lymphocyte``); empty without
    that file (the distributed layout has none)."""
    import csv

    index = Path(root) / "index.csv"
    if not index.is_file():
        return {}
    with open(index, newline="") as f:
        return {Path(r["file"]).stem: "+".join(t for t in (r.get("wbc_types") or "").split(",") if t)
                for r in csv.DictReader(f) if r.get("file")}


def bccd_images(root: Path) -> list[tuple[Path, str, str]]:
    """``(image path, group, role)`` for every BCCD image, sorted by name (all are ``hem``);
    :func:`leukemia_core.data.datasets.read_dataset` turns them into records.

    Raises:
        DatasetLayoutError: no ``JPEGImages/*.jpg`` below ``root``.
    """
    root = Path(root)
    roles = bccd_roles(root)
    if not roles:
        raise DatasetLayoutError(f"{root}: BCCD layout found but JPEGImages/ holds no .jpg")
    return [(root / "JPEGImages" / f"{s}.jpg", f"bccd-{role}-{_number(s) // BCCD_BLOCK:03d}", role)
            for s, role in sorted(roles.items())]


def white_cell_boxes(root: Path, image: Path) -> list[Box]:
    """The human-drawn white-cell boxes of one BCCD image (empty without an annotation file)."""
    xml = Path(root) / "Annotations" / f"{Path(image).stem}.xml"
    return read_boxes(xml) if xml.is_file() else []
