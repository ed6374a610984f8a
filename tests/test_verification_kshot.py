"""leukemia_core.verification.kshot: k-shot site profiles against no profile and the oracle."""

from __future__ import annotations

import json

import pytest
from verification_fixtures import shifted_lab, stored_calibration

from leukemia_core.errors import LeukemiaCoreError
from leukemia_core.verification.kshot import END, START, kshot_lab, kshot_table, write_readme_block


@pytest.fixture(scope="module")
def lab_result():
    return kshot_lab(shifted_lab(n_groups=8, per_group=4), stored_calibration(), (5, 10, 40), draws=4)


def test_a_profile_from_few_cells_corrects_a_threshold_that_is_off(lab_result):
    r = lab_result["k"]["10"]
    assert r["draws"] == 4 and r["report_images_mean"] < 64
    cell = r["cell"]
    assert cell["none"] < 0.6 and cell["profile"] > 0.85 and cell["oracle"] >= cell["profile"] - 1e-9
    assert cell["gain_reached"] and cell["within_oracle_margin"]
    assert cell["gain"] == pytest.approx(cell["profile"] - cell["none"])
    assert lab_result["images"] == {"all": 32, "hem": 32}
    assert lab_result["k"]["40"]["draws"] == 0  # more than the lab has per class


def test_table_and_readme_block(lab_result, tmp_path):
    result = {"model": "tiny_cnn", "weights_sha256": "ab" * 32, "draws": 4, "role": "test", "method": "m",
              "labs": {"site": {**lab_result, "set": "site/test"}}}
    table = kshot_table(result)
    assert "| site (site/test) | 10 | 4 |" in table and "| site (site/test) | 40 | 0 |" in table
    (tmp_path / "k.json").write_text(json.dumps(result))
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{START}\nstale table\n{END}\nrest\n")
    write_readme_block(readme, tmp_path / "k.json")
    text = readme.read_text()
    assert "stale table" not in text and table in text and text.endswith(f"{END}\nrest\n")
    readme.write_text("no block")
    with pytest.raises(LeukemiaCoreError, match="no .* block"):
        write_readme_block(readme, tmp_path / "k.json")
    with pytest.raises(LeukemiaCoreError, match="run verify-kshot first"):
        write_readme_block(readme, tmp_path / "missing.json")


def test_the_readme_table_is_the_shipped_json():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    result = json.loads((root / "model_weights" / "site_kshot.json").read_text())
    block = (root / "README.md").read_text().split(START, 1)[1].split(END, 1)[0]
    assert block.strip() == kshot_table(result).strip()
    assert result["role"] == "test" and set(result["labs"]) == {"cnmc", "aria"}
