"""Site profiles: a lab's own calibrator, thresholds, refer band and colour reference for one model.

A profile is fitted with the machinery the shipped calibration uses
(:func:`~leukemia_core.models.calibration.fit_calibration` on the fit part's cells, each class
weighted equally; :func:`~leukemia_core.models.calibration.fit_field_threshold` on its images of
several cells) and stored as JSON (format :data:`PROFILE_FORMAT`) with the sha256 of the weights
it was fitted on. A profile is refused (:class:`ProfileError`) for any other weights: its
calibrator maps those weights' outputs only.

The colour reference of the out-of-distribution flag (:mod:`leukemia_core.models.ood`) gets one
more component, the lab's own cells (mean and a Ledoit-Wolf covariance of their nine colour
statistics, well-conditioned from a few dozen cells), so the lab's stain is no longer "outside".
The flag threshold stays the one chosen on the model's validation cells (their 99th percentile);
the lab's component is scaled so that the 99th percentile of the lab's fit cells meets it.

Profiles live in :func:`default_profiles_dir` (``$LEUKEMIA_SITE_PROFILES`` or ``site_profiles/``).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import WeightsError
from ..models.calibration import Calibration, fit_calibration, fit_field_threshold
from ..models.site_head import Head, headed_graph
from ..jsonio import write_json
from ..paths import PROJECT_ROOT
from .study import ScoredImages

PROFILE_FORMAT = "leukemia_core.site_profile/2"
#: Formats still read: /1 is a calibration-only profile (no head, no study).
READ_FORMATS = ("leukemia_core.site_profile/1", PROFILE_FORMAT)
#: Environment variable naming the folder of site profiles.
PROFILES_ENV = "LEUKEMIA_SITE_PROFILES"
#: Fewest fit-part cells that get their own colour component.
MIN_REFERENCE_CELLS = 10
_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


class ProfileError(WeightsError):
    """A site profile that cannot be used: unreadable, or fitted on other weights or another model."""


def default_profiles_dir() -> Path:
    """``$LEUKEMIA_SITE_PROFILES`` if set, else the project's ``site_profiles/``."""
    return Path(os.environ.get(PROFILES_ENV) or PROJECT_ROOT / "site_profiles")


@dataclass(frozen=True)
class SiteProfile:
    """A lab's calibration of one model.

    Attributes:
        name: the lab's name for it (shown in the sidebar, CSV rows and reports).
        model, weights_sha256: the model and the exact weights file it was fitted on.
        calibration: the fitted :class:`~leukemia_core.models.calibration.Calibration` (with the
            colour reference).
        created: ISO time (UTC).
        fitted_on: what it was fitted on (images and cells per class, groups, data, split seed).
        held_out: the figures on the lab's report part, before and after (from the verification).
        head: a site model's own head (:class:`~leukemia_core.adaptation.head.Head` as JSON) on the
            frozen features of ``model`` (a served model, or a pretrained encoder); empty for a
            calibration-only profile.
        base: what the head reads: ``{kind: model|encoder, name, weights_sha256, input_size,
            cell_share, mask_outside, cell_rule}`` (empty for a calibration-only profile).
        study: the adaptation's study on the lab's held-out cells and its learning curve.
        accepted: whether that study met the lab's acceptance criteria (None: none were given).
    """

    name: str
    model: str
    weights_sha256: str
    calibration: Calibration
    created: str = ""
    fitted_on: dict = field(default_factory=dict)
    held_out: dict = field(default_factory=dict)
    head: dict = field(default_factory=dict)
    base: dict = field(default_factory=dict)
    study: dict = field(default_factory=dict)
    accepted: bool | None = None

    @property
    def is_site_model(self) -> bool:
        """True when the profile carries its own head (made by ``adapt``), not only a calibration."""
        return bool(self.head)

    @property
    def reads_with_encoder(self) -> bool:
        """True for a site model whose head reads a pretrained encoder instead of a served model."""
        return self.base.get("kind") == "encoder"

    @property
    def status(self) -> str:
        """One phrase for every place a profile is shown: what it is and whether the lab accepted it."""
        kind = (f"site model on the {self.model} encoder" if self.reads_with_encoder
                else "site model" if self.is_site_model else "site calibration")
        verdict = {True: "met the lab's acceptance criteria", False: "FAILED the lab's acceptance criteria",
                   None: "no acceptance criteria given"}[self.accepted]
        return f"{kind}; {verdict}"

    @property
    def file_name(self) -> str:
        """``<model>.<name>.profile.json`` (name reduced to letters, digits, ``_.-``)."""
        return f"{self.model}.{_NAME.sub('_', self.name).strip('_') or 'site'}.profile.json"

    def to_json(self) -> dict:
        """The profile as a JSON-ready dict."""
        return {"format": PROFILE_FORMAT, "name": self.name, "model": self.model,
                "weights_sha256": self.weights_sha256, "created": self.created, "fitted_on": self.fitted_on,
                "held_out": self.held_out, "calibration": self.calibration.to_json(), "head": self.head,
                "base": self.base, "study": self.study, "accepted": self.accepted}

    @classmethod
    def from_json(cls, d: dict) -> "SiteProfile":
        """The profile written by :meth:`to_json`. Raises :class:`ProfileError` for another format."""
        if not isinstance(d, dict) or d.get("format") not in READ_FORMATS:
            raise ProfileError(f"not a site profile (expected format {PROFILE_FORMAT})")
        try:
            head = dict(d.get("head") or {})
            if head and not (isinstance(head.get("w"), list) and "b" in head):
                raise ProfileError("its head has no weights")
            return cls(str(d["name"]), str(d["model"]), str(d["weights_sha256"]),
                       Calibration.from_json(d["calibration"]), str(d.get("created", "")),
                       dict(d.get("fitted_on") or {}), dict(d.get("held_out") or {}), head,
                       dict(d.get("base") or {}), dict(d.get("study") or {}), d.get("accepted"))
        except (KeyError, TypeError) as exc:
            raise ProfileError(f"incomplete site profile ({exc})") from None

    def check(self, model: str, weights_sha256: str | None) -> None:
        """Raise :class:`ProfileError` unless this profile was fitted on ``model`` with these weights."""
        if model != self.model:
            raise ProfileError(f"site profile {self.name!r} is for model {self.model}, not {model}")
        if not weights_sha256 or weights_sha256 != self.weights_sha256:
            raise ProfileError(
                f"site profile {self.name!r} was fitted on other weights of {model} (sha256 "
                f"{self.weights_sha256[:12]}..., these are {(weights_sha256 or 'unknown')[:12]}...): refit it with "
                f"{'adapt' if self.is_site_model else 'verify'} on the lab's images")


def _site_component(crops: np.ndarray) -> dict:
    """One colour-reference component from the lab's cell crops (``uint8 (N, S, S, 3)``)."""
    from sklearn.covariance import LedoitWolf

    from ..data.colour import colour_features

    f = colour_features(crops)
    cov = LedoitWolf().fit(f).covariance_ + 1e-6 * np.eye(f.shape[1])
    return {"mean": f.mean(axis=0).tolist(), "cov_inv": np.linalg.inv(cov).tolist(), "n": int(len(f)),
            "site": True}


def site_reference(stored: dict | None, crops: np.ndarray) -> dict:
    """The stored colour reference with the lab's cells as one more component (the stored
    threshold is kept); without a stored reference, the lab's component alone with the 99th
    percentile of its own cells' distances as threshold. Fewer than :data:`MIN_REFERENCE_CELLS`
    cells: the stored reference unchanged."""
    from ..models.ood import PERCENTILE, distances

    if len(crops) < MIN_REFERENCE_CELLS:
        return dict(stored or {})
    comp = _site_component(crops)
    if stored and stored.get("components") and stored.get("threshold"):
        # the stored flag threshold is the 99th percentile of validation cells' distances; the lab's
        # component is scaled so that the same percentile of the lab's own cells sits at it
        thr = float(stored["threshold"])
        q = float(np.percentile(distances({"components": [comp]}, crops), PERCENTILE))
        if q > thr:
            comp["cov_inv"] = (np.asarray(comp["cov_inv"]) * (thr / q) ** 2).tolist()
            comp["scaled"] = thr / q
        ref = {k: v for k, v in stored.items() if k not in ("flagged_cells_share", "flagged_wrong_inputs_share")}
        ref["components"] = [c for c in stored["components"] if not c.get("site")] + [comp]
        return ref
    ref = {"kind": "colour profile of the lab's cell crops (9 statistics), Mahalanobis distance",
           "components": [comp], "percentile": PERCENTILE}
    ref["threshold"] = float(np.percentile(distances(ref, crops), PERCENTILE))
    return ref


def fit_profile(scored: ScoredImages, fit: list[int], name: str, stored: Calibration,
                data: list[str] | None = None, seed: int | None = None) -> SiteProfile:
    """Fit a profile on the images ``fit`` of ``scored`` (indices), starting from ``stored``'s
    colour reference. The weights' sha256 is the one ``scored`` ran with."""
    part = scored.subset(fit)
    y_img = part.y
    p = np.concatenate(part.raw)
    y = np.concatenate([[yy] * len(r) for yy, r in zip(y_img, part.raw)]).astype(int)
    cal = fit_calibration(p, y, np.array(["site"] * len(y)))
    multi = [(cal.apply(r).mean(), yy) for r, yy, k in zip(part.raw, y_img, part.n_found) if k > 1]
    ft = None
    if multi and len({yy for _, yy in multi}) == 2:
        ft, fba = fit_field_threshold(np.array([m for m, _ in multi]), np.array([yy for _, yy in multi]),
                                      np.array(["site"] * len(multi)))
        cal.info.update({"field_threshold_balanced_accuracy": fba, "field_threshold_images": len(multi)})
    crops = [c for c in part.crops if len(c)]
    ref = site_reference(stored.reference, np.concatenate(crops) if crops else np.zeros((0, 1, 1, 3), np.uint8))
    cal.info.update({"fitted_on": ["site"], "weights_sha256": scored.weights_sha256, "site_profile": name})
    cal = replace(cal, field_threshold=ft, reference=ref)
    fitted_on = {"images": {"all": int(np.sum(y_img == 1)), "hem": int(np.sum(y_img == 0))},
                 "cells": {"all": int(np.sum(y == 1)), "hem": int(np.sum(y == 0))},
                 "groups": len({r.group for r in part.records}), "data": list(data or []), "split_seed": seed}
    return SiteProfile(name, scored.model, scored.weights_sha256, cal,
                       _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), fitted_on)


def save_profile(profile: SiteProfile, path: Path | None = None) -> Path:
    """Write ``profile`` (default: :func:`default_profiles_dir` / its file name); return the path."""
    path = Path(path) if path else default_profiles_dir() / profile.file_name
    write_json(path, profile.to_json())
    return path


def load_profile(path: str | Path, model: str | None = None, weights_sha256: str | None = None) -> SiteProfile:
    """Read a profile; with ``model`` (and its ``weights_sha256``), refuse one fitted on others.

    Raises:
        ProfileError: missing, unreadable, not a profile, or for other weights.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ProfileError(f"{path}: no such site profile") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProfileError(f"{path}: unreadable site profile ({exc})") from None
    try:
        prof = SiteProfile.from_json(data)
    except ProfileError as exc:
        raise ProfileError(f"{path}: {exc}") from None
    if model is not None:
        prof.check(model, weights_sha256)
    return prof


def list_profiles(folder: Path | None = None, model: str | None = None) -> list[tuple[Path, SiteProfile | str]]:
    """``(path, profile or error text)`` for every ``*.profile.json`` in ``folder`` (default
    :func:`default_profiles_dir`), only ``model``'s when given; sorted by file name."""
    folder = Path(folder) if folder else default_profiles_dir()
    out: list[tuple[Path, SiteProfile | str]] = []
    for p in sorted(folder.glob("*.profile.json")) if folder.is_dir() else []:
        try:
            prof = load_profile(p)
        except ProfileError as exc:
            out.append((p, str(exc)))
            continue
        if model is None or prof.model == model:
            out.append((p, prof))
    return out


def profile_label(profile: SiteProfile | None) -> str:
    """How a row or a page names the profile a call used: its name, the encoder that read the cells
    for a site model on one (the row's model did not), and "FAILED acceptance" for a site model
    that failed the lab's criteria ("" for none)."""
    if profile is None:
        return ""
    return (profile.name + (f" (site model on the {profile.model} encoder)" if profile.reads_with_encoder else "")
            + (" [FAILED acceptance]" if profile.accepted is False else ""))


def profile_summary(profile: SiteProfile) -> str:
    """One sentence for reports: what the profile is and, for a site model, its study's figures."""
    if not profile.is_site_model:
        return "calibration and thresholds fitted on this lab's own labelled cells"
    base = f"the pretrained {profile.model} encoder" if profile.reads_with_encoder else "this model"
    study = profile.study or {}
    cell = (study.get("held_out") or {}).get("cell") or {}
    split = study.get("split") or {}

    def v(key):
        x = (cell.get(key) or {}).get("value")
        return "n/a" if x is None else f"{x:.2f}"

    verdict = {True: "met", False: "NOT met", None: "none given"}[profile.accepted]
    return (f"a site model: a head of this lab's own on the frozen features of {base}, fitted on "
            f"{split.get('fit_images', 'n/a')} labelled images; on {split.get('report_images', 'n/a')} held-out images "
            f"ROC AUC {v('roc_auc')}, balanced accuracy {v('balanced_accuracy')}; the lab's acceptance criteria {verdict}")


def apply_profile(loaded, profile: SiteProfile):
    """A copy of ``loaded`` (:class:`~leukemia_core.inference.LoadedModel`) reading as the profile
    says: its calibration, and for a site model its head in place of the model's ``logits`` layer
    (the backbone is shared, not copied: :func:`~leukemia_core.models.site_head.headed_graph`). Raises
    :class:`ProfileError` for other weights or another model."""
    profile.check(loaded.name, loaded.manifest.get("weights_sha256"))
    if profile.is_site_model:
        model = headed_graph(loaded.model, Head.from_json(profile.head)) if loaded.model is not None else None
        return replace(loaded, model=model, calibration=profile.calibration)
    return replace(loaded, calibration=profile.calibration)
