"""The bundled sample images (see CREDITS.md): a few real, held-out images per class and dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Sample:
    """One bundled sample image, its label, its dataset and (Aria) its segmented mask."""

    path: Path
    label: str          # "all" or "hem"
    dataset: str        # "C-NMC 2019" or "Aria ALL"
    mask: Path | None   # the Segmented version (Aria only), usable as a cell mask

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
            out.append(Sample(p, label, "C-NMC 2019" if p.name.startswith("UID_") else "Aria ALL",
                              mask if mask.is_file() else None))
    return out
