"""About / model card: intended use, data, splits, the colour shortcut, training, how to retrain."""

import streamlit as st

from leukemia_core.datasets import ARIA_VAL_FRACTION, CNMC_FOLD_SPLIT
from leukemia_core.models import get_spec
from leukemia_core.reports import (BASELINE, app_models, load_manifest, load_reference, load_report,
                                   metrics_table, model_facts, reference_label, reference_table,
                                   training_data_table, weights_dir)
from pages._shared import pct, safe_load, show_missing, show_table



def _intended_use() -> None:
    st.subheader("Intended use")
    st.markdown(
        "- **For research and education only.** This is **not a diagnostic device**: it has not been "
        "validated clinically and must not be used to diagnose, treat or manage any patient.\n"
        "- It takes a microscope image of a white blood cell (or a smear field) and estimates the "
        "probability that it shows a leukemic B-lymphoblast (**ALL**) rather than a normal cell (**HEM**), "
        "with a class-activation map (Grad-CAM, Grad-CAM++ or Score-CAM) of the regions that drove the call.\n"
        "- The models saw only the two public datasets below. Images from other microscopes, stains or "
        "preparations may be scored unreliably without any warning sign.")


def _data() -> None:
    st.subheader("Data sources")
    st.markdown(
        "- **C-NMC 2019** (single segmented cells, 450x450 px): Gupta A., Gupta R., *ALL Challenge dataset "
        "of ISBI 2019* (C-NMC 2019), The Cancer Imaging Archive (TCIA). Licence **CC BY 3.0**.\n"
        "- **Acute Lymphoblastic Leukemia (ALL) image dataset** (peripheral blood smear fields, Original and "
        "Segmented): Aria M., Ghaderzadeh M., Bashash D. et al., Kaggle, DOI 10.34740/KAGGLE/DSV/2175623; "
        "Ghaderzadeh M. et al., *International Journal of Intelligent Systems*, 2022. Benign (hematogones) "
        "is read as HEM; Early, Pre and Pro B-ALL as ALL. Use under the licence stated on the dataset's page.\n"
        "- The bundled sample images are real held-out images of both datasets (see "
        "`leukemia_core/samples/CREDITS.md`).")
    st.subheader("How the data were split")
    train = " + ".join(f for f, s in CNMC_FOLD_SPLIT.items() if s == "train")
    val = " + ".join(f for f, s in CNMC_FOLD_SPLIT.items() if s == "val")
    st.markdown(
        f"- **C-NMC 2019**: the official patient-disjoint folds: {train} for training, {val} for validation. "
        "No patient appears on both sides.\n"
        f"- **Aria ALL**: no patient ids are published, so the split is image-level: the last "
        f"{ARIA_VAL_FRACTION:.0%} of file numbers in each subclass is held out. The Original and Segmented "
        "versions of one field, and byte-identical files, are always kept together. Fields of one patient may "
        "still fall on both sides (**patient leakage possible**), so Aria scores are likely optimistic.")


def _shortcut(wdir) -> None:
    st.subheader("The colour shortcut")
    st.markdown(
        "On the Aria fields the classes differ in overall staining and illumination, not only in the cells. "
        "A logistic regression on nine global colour statistics (mean, standard deviation and median of each "
        "RGB channel; no shapes, no cells) is trained as a baseline. **Aria scores must be read against this "
        "colour-only baseline**: a network that does not clearly beat it may be reading the stain, not the cell.")
    rep = safe_load(load_report, BASELINE, wdir)
    if rep is None:
        show_missing("baseline")
        return
    table = metrics_table({BASELINE: rep})
    held = table[table["held out"]]
    aria = held[held["set"].str.startswith("aria")]
    for _, row in aria.iterrows():
        st.markdown(f"- Colour-only baseline on **{row['set']}**: balanced accuracy "
                    f"**{pct(row['balanced accuracy'])}** ({int(row['images'])} images).")
    show_table(table[["set", "held out", "images", "groups", "accuracy", "balanced accuracy", "ROC AUC"]],
               percent=["accuracy", "balanced accuracy"], decimals3=["ROC AUC"], key="about_baseline_table")
    st.caption(f"From {BASELINE}.report.json ({rep.get('description', '')}).")


def _models(models: list[str], wdir) -> None:
    st.subheader("The models and how they were trained")
    facts = model_facts(models, wdir)
    if facts.empty:
        st.info(f"No trained models in {wdir} yet.")
        show_missing("weights", "proposed")
        return
    inits = set(facts["init"].dropna())
    how = "from random initialisation (no ImageNet weights)" if inits == {"random"} else \
        "with the initialisation listed per model"
    st.markdown(f"Every model here was trained {how}, on a CPU-only machine with 2 cores, which limits "
                "epochs and input size. The table is read from each model's manifest.")
    st.dataframe(facts, hide_index=True, key="about_models_table")
    for name in facts["model"]:
        man = safe_load(load_manifest, name, wdir) or {}
        with st.expander(f"Model card: {name}"):
            spec = get_spec(name)
            tr = man.get("training", {})
            st.markdown(f"**{spec.description}**. Input {man.get('input_size')} px RGB in [0, 1]; class-activation "
                        f"layer `{spec.cam_layer}`; {man.get('params', 'n/a')} parameters; weights sha256 "
                        f"`{str(man.get('weights_sha256', ''))[:16]}...`; commit `{str(man.get('commit', ''))[:12]}`, "
                        f"{man.get('date', '')}.")
            sel = tr.get("selected_epoch") or {}
            st.markdown(f"Trained on {', '.join(f'`{d}`' for d in tr.get('data', []))}; {tr.get('epochs_run', 'n/a')} "
                        f"epochs run of {tr.get('epochs_max', 'n/a')}; weights of epoch {sel.get('epoch', 'n/a')} "
                        f"({sel.get('phase', '')}) kept, chosen by validation balanced accuracy; seed "
                        f"{tr.get('seed', 'n/a')}; batch {tr.get('batch_size', 'n/a')}, learning rate "
                        f"{tr.get('learning_rate', 'n/a')}.")
            st.dataframe(training_data_table(name, wdir), hide_index=True, key=f"about_data_{name}")


def _retrain() -> None:
    st.subheader("Retraining on a full C-NMC copy")
    st.markdown("The full C-NMC 2019 set is public on TCIA. With a copy in its official layout "
                "(training_data/fold_0..2, validation_data/):")
    st.code("python -m leukemia_core train --model proposed --data /path/to/C-NMC_Leukemia --epochs 30\n"
            "python -m leukemia_core evaluate --model proposed --data /path/to/C-NMC_Leukemia \\\n"
            "    --out model_weights/proposed.report.json\n"
            "python -m leukemia_core baseline --data /path/to/C-NMC_Leukemia \\\n"
            "    --out model_weights/colour_baseline.report.json", language="bash")
    st.caption("Add --init imagenet to start from ImageNet weights (downloads them once); --resume continues an "
               "interrupted run. The app reads the new files from model_weights/ without a restart.")


def _reference(wdir) -> None:
    ref = safe_load(load_reference, wdir)
    st.subheader("Published figures for context")
    if not ref:
        show_missing("reference")
        return
    st.markdown(f"{reference_label(ref)}. {ref.get('note', '')}")
    show_table(reference_table(ref), percent=["train accuracy", "validation accuracy"], key="about_reference_table")
    st.caption(f"Source: {ref.get('source', 'n/a')}.")


def render() -> None:
    st.header("About this tool and its models")
    wdir = weights_dir()
    models = app_models()
    _intended_use()
    _data()
    _shortcut(wdir)
    _models(models, wdir)
    _retrain()
    _reference(wdir)


render()
