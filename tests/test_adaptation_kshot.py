"""``adapt-kshot``: site models from k images per class of a lab, scored on its other groups."""

from __future__ import annotations

from adaptation_fixtures import lab_dir, tiny_source  # noqa: F401  (fixtures)

from leukemia_core.adaptation.kshot import kshot_one, kshot_table, parse_lab, parse_model
from leukemia_core.verification.study import read_labelled


def test_k_images_per_class_fit_and_the_other_groups_score(lab_dir, tiny_source):
    res = kshot_one(tiny_source, read_labelled([lab_dir]), ks=[5, 50], draws=3, rule="centre")
    five = res["k"]["5"]
    assert five["draws"] == 3 and five["report_images_mean"] <= 26 - 10  # groups drawn from do not score
    auc = five["site_model"]["roc_auc"]
    assert auc["low"] <= auc["mean"] <= auc["high"]
    assert "no_profile" not in five  # an encoder has no shipped head
    assert res["k"]["50"]["draws"] == 0 and "fewer than 50" in res["k"]["50"]["note"]
    table = kshot_table({"draws": 3, "rows": [{**res, "lab": "mine", "role": "all", "model": "densenet121",
                                                "lab_in_training": "no (ImageNet encoder)"}]})
    assert "| mine (all) | densenet121 | no (ImageNet encoder) | 5 |" in table


def test_model_specs_name_other_weights_and_a_label():
    assert parse_model("efficientnet_b0") == ("efficientnet_b0", None, "efficientnet_b0")
    assert parse_model("efficientnet_b0=runs/x:no C-NMC") == ("efficientnet_b0", "runs/x", "no C-NMC")
    assert parse_model("resnet50=runs/lolo")[2] == "resnet50 (lolo)"


def test_lab_specs_may_name_a_role():
    assert parse_lab("../data/aria_all:test") == ("../data/aria_all", "test")
    assert parse_lab("../data/cnmc2019") == ("../data/cnmc2019", "all")
    assert parse_lab("C:/labs/x:y", "val") == ("C:/labs/x:y", "val")


def test_fine_tuning_is_reported_beside_the_frozen_head_on_the_same_draws(lab_dir, tiny_source, monkeypatch):
    from leukemia_core.adaptation import kshot

    seen = []

    def fake(source, head, fit_crops, y_fit, test_crops, seed=0):
        seen.append((len(fit_crops), len(test_crops)))
        return head.predict(source.features(test_crops))  # the frozen head again: same AUC

    monkeypatch.setattr(kshot, "finetune_scores", fake)
    monkeypatch.setitem(kshot.LAST_BLOCK, "densenet121", ("relu",))
    res = kshot.kshot_one(tiny_source, read_labelled([lab_dir]), ks=[5], draws=3, rule="centre", finetune_ks=[5],
                          finetune_draws=2)
    f = res["k"]["5"]["finetune"]
    assert f["draws"] == 2 == len(seen) and seen[0][0] == 10
    assert abs(f["frozen_roc_auc"]["mean"] - f["finetuned_roc_auc"]["mean"]) < 1e-9
