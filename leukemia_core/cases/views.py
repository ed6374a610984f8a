"""What the case store takes in and hands out: plain dataclasses (no live ORM objects), safe to keep
in a page's session state.

* In: :class:`RunInput` (one model run on one image) with its :class:`CellInput` cells.
* Out: :class:`CaseView` (a case with its :class:`ImageView` images, their newest :class:`RunView` per
  model, each with :class:`CellView` cells and their newest decision) and :class:`SignoffView`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Sequence


@dataclass(frozen=True)
class CellInput:
    """One cell of a run to store: ``box = (x, y, w, h)`` px, calibrated ``p_all`` in [0, 1], ``call``
    (``"ALL"``/``"HEM"`` at the run's threshold), ``refer``, ``flags`` (short texts), and optional PNG
    bytes of the crop (RGB) and of the map of the call (gray)."""

    number: int
    box: tuple[int, int, int, int]
    p_all: float
    call: str
    refer: bool = False
    touches_border: bool = False
    flags: tuple[str, ...] = ()
    crop_png: bytes | None = None
    map_png: bytes | None = None


@dataclass(frozen=True)
class RunInput:
    """One model run on one image to store (see :class:`~.models.Run`); ``cells`` in order."""

    model: str
    weights_sha256: str
    threshold: float
    image_threshold: float
    p_image: float
    image_call: str
    cells: Sequence[CellInput]
    whole_image: bool = False
    notes: Sequence[str] = ()
    refer_half_width: float = 0.0
    site_profile: str | None = None
    source: str = "app"


@dataclass(frozen=True)
class CaseInfo:
    """A case's own fields; ``signoffs``: how many sign-offs it has (0: never signed)."""

    pk: int
    case_id: str
    sample_date: dt.date | None
    note: str
    status: str
    version: int
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime
    updated_by: str
    amend_reason: str | None
    signoffs: int = 0
    specimen_id: str | None = None
    patient_ref: str | None = None


@dataclass
class CellView:
    """A stored cell with the newest review decision (``decision`` None: not reviewed yet)."""

    id: int
    number: int
    box: tuple[int, int, int, int]
    p_all: float
    call: str
    refer: bool
    touches_border: bool
    flags: str
    decision: str | None = None
    reviewer: str = ""
    reviewed_at: dt.datetime | None = None

    @property
    def reviewed_call(self) -> str | None:
        """``"ALL"``/``"HEM"`` after review (accept = the model's call), ``"excluded"`` (not a white
        cell), ``"unclassified"`` (cannot classify, or a NO CALL accepted), None while not reviewed."""
        accepted = "unclassified" if self.call == "NO CALL" else self.call  # accepting a NO CALL: no call
        return {None: None, "accept": accepted, "not a white cell": "excluded",
                "cannot classify": "unclassified"}.get(self.decision, self.decision)


@dataclass
class RunView:
    """A stored model run on one image, with its cells."""

    id: int
    model: str
    weights_sha256: str
    site_profile: str | None
    threshold: float
    image_threshold: float
    refer_half_width: float
    whole_image: bool
    notes: list[str]
    p_image: float
    image_call: str
    source: str
    created_at: dt.datetime
    created_by: str
    cells: list[CellView] = field(default_factory=list)


@dataclass
class ImageView:
    """An image of a case; ``runs``: the newest run per model."""

    id: int
    sha256: str
    file_name: str
    position: int
    runs: dict[str, RunView] = field(default_factory=dict)


@dataclass(frozen=True)
class SignoffView:
    """A sign-off: number (1 original, 2+ amendments), who, when (UTC), model, reason, snapshot dict,
    the signature's meaning and the sha256 of the summary the signer confirmed (None on older ones)."""

    number: int
    signed_by: str
    signed_at: dt.datetime
    model: str
    reason: str
    snapshot: dict
    meaning: str | None = None
    summary_sha256: str | None = None


@dataclass
class CaseView:
    """A case as the review page needs it: its fields, images (with runs and cells) and sign-offs."""

    info: CaseInfo
    images: list[ImageView]
    signoffs: list[SignoffView]

    def models(self) -> list[str]:
        """Models with a run on some image, in the order first run."""
        seen: dict[str, int] = {}
        for im in self.images:
            for m, r in im.runs.items():
                seen[m] = min(seen.get(m, r.id), r.id)
        return sorted(seen, key=seen.get)

    def cells(self, model: str) -> list[tuple[ImageView, RunView, CellView]]:
        """Every cell of ``model``'s newest run on each image, image by image."""
        return [(im, im.runs[model], c) for im in self.images if model in im.runs for c in im.runs[model].cells]
