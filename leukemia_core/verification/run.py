"""``verify`` end to end: the lab's labelled images through each model, the report files and
the site profile(s). Used by the command line and by the Verify page (which passes uploads as
records and a progress callback)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from ..data.datasets import Record
from ..errors import LeukemiaCoreError
from ..jsonio import write_json
from ..paths import weights_dir_or_default
from .html import build_html
from .profile import SiteProfile, apply_profile, load_profile, save_profile
from .report import build_report, to_csv, verify_model
from .study import check_classes, score_images


@dataclass
class VerifyResult:
    """What a verification produced: the report dict, its files and the fitted profiles per model."""

    report: dict
    files: dict[str, Path] = field(default_factory=dict)
    profiles: dict[str, SiteProfile] = field(default_factory=dict)
    profile_paths: dict[str, Path] = field(default_factory=dict)


def validation_figures(name: str, weights_dir: Path | None = None) -> list[dict]:
    """The model's own validation/test figures from its evaluation report (empty without one)."""
    from ..reports.casereport import model_info
    from ..reports.files import load_report

    try:
        rep = load_report(name, weights_dir)
    except LeukemiaCoreError:
        return []
    return model_info(name, None, rep).figures if rep else []


def run_verify(models: Sequence[str], records: Sequence[Record], weights_dir: Path | None = None,
               data: Sequence[str] = (), used_profiles: Sequence[str | Path] = (),
               min_sensitivity: float | None = None, min_specificity: float | None = None, level: str = "cell",
               fit_share: float = 0.5, seed: int = 0, profile_name: str | None = None,
               out_dir: Path | None = None, profiles_dir: Path | None = None, cache_dir: Path | None = None,
               n_boot: int = 1000, progress: Callable[[str, int, int], None] | None = None,
               loaded_models: dict | None = None) -> VerifyResult:
    """Verify ``models`` on the lab's ``records``; write the report files to ``out_dir`` (when
    given) and, with ``profile_name``, each model's site profile to ``profiles_dir``.

    ``used_profiles``: profile files to run the study under (one per model at most; refused for
    other weights). ``progress(model, done, total)`` after each chunk of images.
    ``loaded_models``: already loaded models by name (the app's cache), else they are loaded here.

    Raises:
        VerificationError: no labels, one class only, nothing readable.
        ProfileError: a profile for other weights or another model.
        WeightsError: a model without weights.
    """
    from ..inference import load_model

    check_classes(records)
    wdir = weights_dir_or_default(weights_dir)
    loaded = {m: (loaded_models or {}).get(m) or load_model(m, wdir) for m in models}
    used: dict[str, SiteProfile] = {}
    for p in used_profiles:
        prof = load_profile(p)
        if prof.model not in loaded:
            raise LeukemiaCoreError(f"site profile {prof.name!r} is for {prof.model}, which is not being verified")
        prof.check(prof.model, loaded[prof.model].manifest.get("weights_sha256"))
        used[prof.model] = prof
    results, fitted, skipped = {}, {}, []
    for m in models:
        lm = apply_profile(loaded[m], used[m]) if m in used else loaded[m]
        scored = score_images(lm, records, (lambda d, t, m=m: progress(m, d, t)) if progress else None,
                              cache_dir=cache_dir)
        skipped = scored.skipped
        res, prof = verify_model(scored, loaded[m].calibration, validation_figures(m, wdir), used.get(m),
                                 min_sensitivity, min_specificity, level, fit_share, seed, profile_name, data,
                                 n_boot)
        results[m] = res
        if prof is not None:
            fitted[m] = prof
    criteria = {"min_sensitivity": min_sensitivity, "min_specificity": min_specificity, "level": level}
    out = VerifyResult(build_report(results, records, skipped, data, criteria), profiles=fitted)
    if profile_name and (out_dir is not None or profiles_dir is not None):
        for m, prof in fitted.items():
            path = save_profile(prof, Path(profiles_dir) / prof.file_name if profiles_dir else None)
            out.profile_paths[m] = path
            out.report["models"][m]["site_calibration"]["profile"] = str(path)
    if out_dir is not None:
        out.files = write_files(out.report, Path(out_dir))
    return out


def write_files(report: dict, out_dir: Path) -> dict[str, Path]:
    """``verification.json``, ``verification.csv`` and ``verification.html`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"json": out_dir / "verification.json", "csv": out_dir / "verification.csv",
             "html": out_dir / "verification.html"}
    write_json(files["json"], report)
    files["csv"].write_text(to_csv(report))
    files["html"].write_bytes(build_html(report))
    return files
