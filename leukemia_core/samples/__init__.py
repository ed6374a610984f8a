"""The bundled sample images (see CREDITS.md): a few real, held-out images per class and dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Sample:
    """One bundled sample image, its label, its dataset, (Aria) its segmented mask and (BCCD)
    its human-drawn boxes (a Pascal VOC file)."""

    path: Path
    label: str          # "all" or "hem"
    dataset: str        # "C-NMC 2019", "Aria ALL" or "BCCD"
    mask: Path | None   # the Segmented version (Aria only), usable as a cell mask
    boxes: Path | None = None  # the Pascal VOC annotation (BCCD only)

    @property
    def title(self) -> str:
        """``"ALL - Aria ALL - WBC-Malignant-Early-800.jpg"``: label, dataset, file name."""
        return f"{self.label.upper()} - {self.dataset} - {self.path.name}"


def list_samples() -> list[Sample]:
    """All bundled samples, ALL first, sorted by file name."""
    out = []
    for label in ("all", "hem"):
        for p in sorted((SAMPLES_DIR / label).iterdir()):
            if p.suffix.lower() not in (".png", ".jpg"):
                continue
            mask = SAMPLES_DIR / "segmented" / p.name
            boxes = SAMPLES_DIR / "annotations" / f"{p.stem}.xml"
            out.append(Sample(p, label, _dataset(p.name), mask if mask.is_file() else None,
                              boxes if boxes.is_file() else None))
    return out


def _dataset(name: str) -> str:
    if name.startswith("UID_"):
        return "C-NMC 2019"
    return "BCCD" if name.startswith("BloodImage_") else "Aria ALL"
