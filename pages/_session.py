"""The sidebar's choices, as the pages read them from the session state: model, decision
threshold and site profile (the widgets are drawn in ``app.py`` under these keys)."""

from __future__ import annotations

import streamlit as st

from leukemia_core.errors import LeukemiaCoreError
from leukemia_core.models.calibration import DEFAULT_THRESHOLD
from leukemia_core.models.card import report_thresholds
from leukemia_core.reports.files import app_models, default_model
from pages._loaders import weights_sha

#: Session-state keys of the sidebar widgets (set in app.py).
MODEL_KEY = "app_model"
THRESHOLD_KEY = "app_threshold"
#: Session-state key of the "each model's validated threshold" toggle (set in app.py).
OWN_THRESHOLD_KEY = "app_own_threshold"
#: Session-state key of the sidebar's site profile (a profile file's path; "" = the stored calibration).
PROFILE_KEY = "app_site_profile"


def selected_model() -> str | None:
    """The model chosen in the sidebar (default ``proposed``)."""
    return st.session_state.get(MODEL_KEY) or default_model(app_models())


def threshold() -> float | None:
    """The decision threshold on calibrated P(ALL) chosen in the sidebar, or None for each
    model's own threshold (chosen on validation cells)."""
    if st.session_state.get(OWN_THRESHOLD_KEY, True):
        return None
    return float(st.session_state.get(THRESHOLD_KEY, DEFAULT_THRESHOLD))


def effective_threshold(report: dict) -> float:
    """The sidebar's threshold, or (with "each model's validated threshold") the report's own."""
    thr = threshold()
    return report_thresholds(report).threshold if thr is None else thr


def profile_choices(model: str) -> tuple[dict[str, str], list[str]]:
    """``({label: path}, [refusal messages])``: the site profiles usable with ``model``'s current
    weights, and why the others of that model (or unreadable files) are left out."""
    from leukemia_core.verification.profile import list_profiles

    sha, ok, refused = weights_sha(model), {}, []
    for path, prof in list_profiles():
        if isinstance(prof, str):
            refused.append(prof)
            continue
        if prof.model != model and not prof.reads_with_encoder:
            continue
        try:
            check_profile(prof, model, sha)
        except LeukemiaCoreError as exc:
            refused.append(str(exc))
            continue
        mark = " · FAILED acceptance" if prof.accepted is False else ""
        kind = (f"site model, {prof.model} encoder" if prof.reads_with_encoder
                else "site model" if prof.is_site_model else "calibration")
        ok[f"{prof.name} ({kind}{mark})"] = str(path)
    return ok, refused


def check_profile(prof, model: str, sha: str) -> None:
    """Raise :class:`ProfileError` (or ``WeightsError``) unless ``prof`` can read for ``model`` here:
    fitted on ``model``'s weights ``sha``, or a site model on a pretrained encoder built on this
    machine with the weights it was fitted on."""
    if prof.reads_with_encoder:
        from leukemia_core.adaptation.encoders import encoder_status, get_encoder_spec
        from leukemia_core.errors import WeightsError

        status = encoder_status(prof.model)
        if status != "ok":
            raise WeightsError(f"site model {prof.name!r}: {status}")
        prof.check(prof.model, get_encoder_spec(prof.model).weights_sha256)
        return
    prof.check(model, sha)


def site_profile(model: str):
    """The site profile chosen in the sidebar when it is ``model``'s, else None (stored calibration).

    Raises:
        ProfileError: the chosen file is unreadable or was fitted on other weights of ``model``.
    """
    from leukemia_core.verification.profile import load_profile

    path = st.session_state.get(PROFILE_KEY) or ""
    if not path:
        return None
    prof = load_profile(path)
    if prof.model != model and not prof.reads_with_encoder:
        return None
    if prof.reads_with_encoder and model != (st.session_state.get(MODEL_KEY) or model):
        return None  # an encoder's site model stands in for the sidebar's model only
    check_profile(prof, model, weights_sha(model))
    return prof


def site_profile_or_none(model: str):
    """:func:`site_profile`, None where it cannot be used (the pages say why when they use it)."""
    try:
        return site_profile(model)
    except LeukemiaCoreError:
        return None


def result_tag(model: str) -> str:
    """What a stored result of ``model`` depends on besides the image: the weights' sha256 and the
    site profile in use (its name and creation time), so a new choice is never served an old result."""
    prof = site_profile_or_none(model)
    return weights_sha(model) + (f"|profile:{prof.model}:{prof.name}|{prof.created}" if prof else "")


def thresholds_in_use(model: str | None) -> tuple[float | None, str]:
    """``(cell threshold the model calls at, a sentence beside the slider)``: the threshold in use
    (the sidebar's, or the model's validated one) and the field threshold it implies for images of
    several cells; ``(None, "")`` without a readable model card."""
    from leukemia_core.models.card import resolve_card
    from leukemia_core.paths import default_weights_dir

    if not model:
        return None, ""
    try:
        d = resolve_card(model, default_weights_dir()).decision
    except LeukemiaCoreError:
        return None, ""
    cell = d.threshold if threshold() is None else threshold()
    fields = d.image_threshold(2, cell)
    rule = (f"images of several cells: {fields:.2f} (their mean P(ALL) against the field threshold, which "
            f"moves with this one)" if d.field_threshold is not None else "images of several cells: the same")
    source = "validated on its calibration cells" if threshold() is None else "set here"
    return cell, f"{model} in use: cells {cell:.2f} ({source}); {rule}."
