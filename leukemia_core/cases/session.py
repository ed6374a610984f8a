"""What the Cases page decides, kept out of the page (which only draws): who the reviewer is, which
cells a gallery page shows, the pictures of a tile, and a model's reading of an upload as a run.

* Who: with ``[auth]`` in the deployment's secrets the user signs in (Streamlit's OpenID Connect
  login) and the name comes from the identity token (:func:`signed_in_name`); without it the app
  runs single-user and the reviewer types a name once per session. Nobody else may review or sign.
* Gallery: cells in a stable order (image, then cell number), filtered (all, not reviewed, changed
  by the reviewer, to refer) and paged (:func:`gallery_page`).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from .views import CaseView

#: Cells per gallery page.
PAGE_CELLS = 24
#: Gallery filters: label -> test on a cell.
FILTERS = {
    "all cells": lambda c: True,
    "not reviewed": lambda c: c.decision is None,
    "changed by the reviewer": lambda c: c.reviewed_call is not None and c.reviewed_call != c.call,
    "to refer": lambda c: c.refer,
}
#: Short button labels of the decisions (same order as :data:`~.models.DECISIONS`).
DECISION_LABELS = {"accept": "Accept", "ALL": "ALL", "HEM": "HEM", "not a white cell": "Not a WBC",
                   "cannot classify": "Can't tell"}


def auth_configured(secrets: Mapping | None) -> bool:
    """Whether the deployment's secrets configure a login (an ``[auth]`` table with a client ID, at
    its top or in a named provider table)."""
    try:
        auth = (secrets or {}).get("auth")
    except Exception:  # noqa: BLE001 - Streamlit raises when there is no secrets file at all
        return False
    if not isinstance(auth, Mapping):
        return False
    return "client_id" in auth or any(isinstance(v, Mapping) and "client_id" in v for v in auth.values())


def signed_in_name(user: Mapping | None) -> str | None:
    """The name recorded for a signed-in user: the token's ``email``, else ``name``, else ``sub``
    (None when not signed in)."""
    if not user or not user.get("is_logged_in"):
        return None
    for key in ("email", "name", "preferred_username", "sub"):
        value = str(user.get(key) or "").strip()
        if value:
            return value[:200]
    return None


def reviewer(auth_on: bool, user: Mapping | None, typed: str | None) -> str | None:
    """Who may review now: the signed-in user when login is configured (never a typed name then),
    else the name typed this session; None when nobody is."""
    if auth_on:
        return signed_in_name(user)
    name = (typed or "").strip()
    return name[:200] or None


def gallery_page(view: CaseView, model: str, page: int = 0, show: str = "all cells",
                 per_page: int = PAGE_CELLS) -> tuple[list, int, int]:
    """``(rows, pages, matching)``: the ``(image, run, cell)`` rows of page ``page`` (0-based, clipped)
    of ``model``'s cells passing the ``show`` filter (:data:`FILTERS`), how many pages, how many cells."""
    keep = FILTERS[show]
    rows = [r for r in view.cells(model) if keep(r[2])]
    pages = max(1, -(-len(rows) // per_page))
    page = min(max(0, int(page)), pages - 1)
    return rows[page * per_page:(page + 1) * per_page], pages, len(rows)


def map_overlay(crop_png: bytes | None, map_png: bytes | None, alpha: float = 0.45) -> bytes | None:
    """The crop with its map drawn over it in the default colour scale (viridis: yellow = strongest
    evidence), PNG; None without a map."""
    import cv2

    if not crop_png or not map_png:
        return None
    crop = cv2.imdecode(np.frombuffer(crop_png, np.uint8), cv2.IMREAD_COLOR)
    heat = cv2.imdecode(np.frombuffer(map_png, np.uint8), cv2.IMREAD_GRAYSCALE)
    if crop is None or heat is None:
        return None
    heat = cv2.applyColorMap(cv2.resize(heat, crop.shape[1::-1]), cv2.COLORMAP_VIRIDIS)
    ok, buf = cv2.imencode(".png", cv2.addWeighted(crop, 1 - alpha, heat, alpha, 0))
    return buf.tobytes() if ok else None


def upload_run(model: str, result, threshold: float, weights_sha256: str, image_shape, profile: str | None = None):
    """An app reading (:class:`~leukemia_core.cells.analyze.ImageAnalysis` of ``read_cells``: cells,
    crops, P(ALL), both maps) as a run to store."""
    from .importer import run_from_analysis

    return run_from_analysis(model, result, threshold, weights_sha256, image_shape, site_profile=profile,
                             source="app")
