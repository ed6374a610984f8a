"""About / model card: intended use, data, splits, the colour shortcut, training, how to retrain."""

import streamlit as st

from leukemia_core.data.datasets import ARIA_TEST_FRACTION, ARIA_VAL_FRACTION, CNMC_FOLD_SPLIT, CNMC_VAL_FRACTION
from leukemia_core.models.weights import read_manifest
from leukemia_core.paths import artefact_file, default_weights_dir, weights_dir_label
from leukemia_core.reports.display import pct
from leukemia_core.reports.facts import card_text, model_facts, training_data_table
from leukemia_core.reports.files import (
    BASELINE,
    app_models,
    load_reference,
    load_report,
    load_reports,
    report_names,
    report_path,
)
from leukemia_core.reports.scores import metrics_table, reference_label, reference_table
from leukemia_core.reports.sets import LEVEL_NAMES, set_sort_key
from pages._messages import safe_load, show_missing
from pages._tables import show_calibration_table, show_table


def _intended_use() -> None:
    st.subheader("Intended use")
    st.markdown(
        "- **For research and education only.** This is **not a diagnostic device**: it has not been "
        "validated clinically and must not be used to diagnose, treat or manage any patient.\n"
        "- It takes a microscope image of a white blood cell or a smear field, finds every white cell in it and "
        "estimates, per cell, the calibrated probability that it is a leukemic B-lymphoblast (**ALL**) rather "
        "than a normal cell (**HEM**), with a class-activation map (Grad-CAM, Grad-CAM++ or Score-CAM) of the "
        "regions that drove each call. Cells close to the threshold are marked **refer**: a person must look.\n"
        "- The models saw only the three public datasets below (C-NMC, Aria, BCCD). Images from other "
        "microscopes, stains or preparations may be scored unreliably without any warning sign.")


def _data() -> None:
    st.subheader("Data sources")
    st.markdown(
        "- **C-NMC 2019** (single segmented cells, 450x450 px): Gupta A., Gupta R., *ALL Challenge dataset "
        "of ISBI 2019* (C-NMC 2019), The Cancer Imaging Archive (TCIA). Licence **CC BY 3.0**.\n"
        "- **Acute Lymphoblastic Leukemia (ALL) image dataset** (peripheral blood smear fields, Original and "
        "Segmented): Aria M., Ghaderzadeh M., Bashash D. et al., Kaggle, DOI 10.34740/KAGGLE/DSV/2175623; "
        "Ghaderzadeh M. et al., *International Journal of Intelligent Systems*, 2022. Benign (hematogones) "
        "is read as HEM; Early, Pre and Pro B-ALL as ALL. Use under the licence stated on the dataset's page.\n"
        "- **BCCD** (Blood Cell Count and Detection; 640x480 smears with human-drawn boxes, every white cell "
        "normal: HEM in the binary task): Shenggan/BCCD_Dataset, **MIT** licence; type labels from the "
        "Kaggle \"blood-cells\" release as collected in apple2373/BCCD. All four models train on it beside "
        "the two sets above.\n"
        "- **wbcseg** (400 single normal white cells from two labs, with expert nucleus and cytoplasm masks and "
        "cell types): Zheng X., Wang Y., Wang G., Liu J., *Fast and robust segmentation of white blood cell images "
        "by self-supervised learning*, Micron 107:55-71, 2018 (dataset 1: Jiangxi Tecom Science Corporation; "
        "dataset 2: the CellaVision blog), **GPL-3.0**. Never ALL/HEM training data: it set the finder's "
        "single-cell constants, trains the lymphoid gate with BCCD's types and measures the lab probe; none of "
        "its images ships with the dashboard.\n"
        "- The bundled sample images are real held-out images of these datasets (see "
        "`leukemia_core/samples/CREDITS.md`).")
    st.subheader("How the data were split")
    train = " + ".join(f for f, s in CNMC_FOLD_SPLIT.items() if s == "train")
    test = " + ".join(f for f, s in CNMC_FOLD_SPLIT.items() if s == "test")
    st.markdown(
        "Three roles, named beside every figure of this dashboard:\n"
        "- **train**: the weights were fitted on these images;\n"
        "- **validation**: carved from the training folds / blocks; chose the epoch, the calibrator, the "
        "threshold and the refer band, so its figures are optimistic (**not a test set**);\n"
        "- **test**: reported only, never used to choose anything.\n\n"
        f"- **C-NMC 2019**: the official patient-disjoint folds. {test} (and the labelled preliminary-phase "
        f"set) is the **test** set. From {train}, {CNMC_VAL_FRACTION:.0%} of the patients of each class "
        "(fixed by a hash of the patient id) are the validation set, the rest train. No patient appears in "
        "two roles.\n"
        f"- **Aria ALL**: no patient ids are published, so the split is by blocks of file numbers: the last "
        f"{ARIA_TEST_FRACTION:.0%} of file numbers in each subclass is the **test** block, the "
        f"{ARIA_VAL_FRACTION:.0%} before it the validation band, the rest train. The Original and Segmented "
        "versions of one field, and byte-identical files, are always kept together. Fields of one patient may "
        "still fall in two roles (**patient leakage possible**), so Aria scores are likely optimistic.")


def _shortcut(wdir) -> None:
    st.subheader("The colour shortcut")
    st.markdown(
        "On the Aria fields the classes differ in overall staining and illumination, not only in the cells. "
        "A logistic regression on nine colour statistics of each cell crop (mean, standard deviation and median "
        "of each RGB channel over the cell's pixels; no shapes) is trained as a baseline, on the same cells the "
        "models see. **Scores must be read against this colour-only baseline**: a network that does not clearly "
        "beat it may be reading the stain, not the cell.")
    rep = safe_load(load_report, BASELINE, wdir)
    if rep is None:
        if not report_path(BASELINE, wdir).is_file():
            show_missing("baseline")
        return
    table = metrics_table({BASELINE: rep}, levels=("cells", "images"))
    table = table.sort_values("set", key=lambda c: c.map(set_sort_key), kind="stable")
    for _, row in table[(table["role"] == "test") & (table["level"] == LEVEL_NAMES["cells"])].iterrows():
        st.markdown(f"- Colour-only baseline on **{row['set']}** (test): balanced accuracy "
                    f"**{pct(row['balanced accuracy'])}** over {int(row['scored'])} cells.")
    show_table(table[["set", "role", "level", "scored", "accuracy", "balanced accuracy", "ROC AUC"]],
               percent=["accuracy", "balanced accuracy"], decimals={"ROC AUC": 3},
               units={"scored": "cells or images", "ROC AUC": "0-1"}, key="about_baseline_table", static=True)
    st.caption(f"From {artefact_file(BASELINE, 'report')} ({rep.get('description', '')}).")


def _calibration(models: list[str], wdir) -> None:
    st.subheader("Calibration, threshold and refer band")
    st.markdown("Each model's P(ALL) is calibrated (Platt scaling) on the **validation** cells, which also "
                "chose its decision threshold and the refer band around it; the test sets played no part. "
                "ECE (expected calibration error) says how far the probabilities are from observed shares.")
    reps, _ = load_reports([n for n in report_names(wdir, models) if n != BASELINE], wdir)
    if not reps:
        st.info("No evaluation report yet, so no calibration to show.")
        return
    show_calibration_table(reps, key="about_calibration_table")


def _models(models: list[str], wdir) -> None:
    st.subheader("The models and how they were trained")
    facts = model_facts(models, wdir)
    if facts.empty:
        st.info(f"No trained models in {weights_dir_label(wdir)} yet.")
        show_missing("weights", "proposed")
        return
    inits = set(facts["initialisation"].dropna())
    how = "from random initialisation (no ImageNet weights)" if inits == {"random"} else \
        "with the initialisation listed per model"
    st.markdown(f"Every model here was trained {how}, on a CPU-only machine with 2 cores, which limits "
                "epochs and input size. The table is read from each model's manifest.")
    show_table(facts.drop(columns=["description"]), key="about_models_table", static=True,
               units={"parameters": "count"})
    for name in facts["model"]:
        man = safe_load(read_manifest, name, wdir, missing_ok=True) or {}
        with st.expander(f"Model card: {name}"):
            for text in card_text(name, man):
                st.markdown(text)
            show_table(training_data_table(name, wdir), key=f"about_data_{name}", static=True)


def _pretrained_line(title: str, what: str, spec, package_sha256: str, built: bool, command: str) -> str:
    """One pretrained encoder or start: what it is, its licence, its source and sha256s, built or not."""
    return (f"- {title}: {what}. Licence: {spec.licence}. Built on this machine by the install step from "
            f"{spec.package} {spec.version} ({spec.registry}; package sha256 `{package_sha256[:16]}...`, converted "
            f"weights sha256 `{spec.weights_sha256[:16]}...`): "
            + ("present." if built else f"**not built here** (`python -m leukemia_core {command} --build`)."))


def _encoders() -> None:
    from leukemia_core.adaptation.encoders import ENCODERS, encoder_status
    from leukemia_core.models.starts import STARTS, start_status

    st.subheader("Pretrained encoders for site models")
    st.markdown("A site model (Verify at your lab → Adapt) may read the frozen features of a pretrained encoder "
                "instead of one of the models above. None of the four models starts from it.")
    for spec in ENCODERS.values():
        st.markdown(_pretrained_line(f"**{spec.name}**", spec.provenance, spec, spec.wheel_sha256,
                                     encoder_status(spec.name) == "ok", "encoders"))
    st.markdown("Pretrained starts for training (`train --init NAME`); the initialisation column of the models' "
                "table above says which shipped model began from one:")
    for spec in STARTS.values():
        st.markdown(_pretrained_line(f"**{spec.name}** (`{'`, `'.join(spec.models)}`)", f"{spec.layers}; {spec.provenance}", spec,
                                     spec.archive_sha256, start_status(spec.name) == "ok", "starts"))


def _retrain() -> None:
    st.subheader("Retraining on a full C-NMC copy")
    st.markdown("The full C-NMC 2019 set is public on TCIA. With a copy in its official layout "
                "(training_data/fold_0..2, validation_data/):")
    st.code("python -m leukemia_core train --model proposed --data /path/to/C-NMC_Leukemia --epochs 30\n"
            "python -m leukemia_core evaluate --model proposed --data /path/to/C-NMC_Leukemia \\\n"
            "    --out model_weights/proposed.report.json\n"
            "python -m leukemia_core baseline --data /path/to/C-NMC_Leukemia \\\n"
            "    --out model_weights/colour_baseline.report.json", language="bash")
    st.caption("Add --init with a pretrained start listed above to begin from ImageNet layers built offline "
               "(--init imagenet downloads Keras' weights and needs the network); --resume continues an "
               "interrupted run. The app reads the new files from model_weights/ without a restart.")


def _reference(wdir) -> None:
    ref = safe_load(load_reference, wdir)
    st.subheader("Published figures for context")
    if not ref:
        show_missing("reference")
        return
    st.markdown(f"{reference_label(ref)}. {ref.get('note', '')}")
    if st.toggle("Show the reference system's published figures", value=False, key="about_reference"):
        show_table(reference_table(ref), percent=["published train accuracy", "published validation accuracy"],
                   key="about_reference_table", static=True)
        st.caption(f"Source: {ref.get('source', 'n/a')}.")


def render() -> None:
    st.header("About this tool and its models")
    wdir = default_weights_dir()
    models = app_models()
    _intended_use()
    _data()
    _shortcut(wdir)
    _models(models, wdir)
    _encoders()
    _calibration(models, wdir)
    _retrain()
    _reference(wdir)


render()
