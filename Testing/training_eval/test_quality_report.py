"""The quality report's verdicts follow the measured numbers (targets can fail)."""

from __future__ import annotations

import numpy as np
import pytest

from training import quality_report
from training.evaluation import adherence
from training.evaluation.report import markdown_report


def results(pair_larger: list[bool], contrast_ok: list[bool], ages_volumes: list[tuple[int, float]]) -> dict:
    modality_rows = [{"modality": quality_report.MODALITIES[i % 4], "age": age, "ventricles_ml": volume,
                      "contrast_ok": ok} for i, ((age, volume), ok) in enumerate(zip(ages_volumes, contrast_ok))]
    return {
        "bundle": {"id": "b", "version": "1"},
        "sampling": {"steps": 25, "guidance": 3.0, "sampler": "dpm++", "negative_prompt": ""},
        "reconstruction": [{"ssim": 0.96, "psnr": 31.0}, {"ssim": 0.95, "psnr": 30.5}],
        "modality_and_age": modality_rows,
        "ventricle_pairs": [{"enlarged_ml": 30.0 if larger else 10.0, "normal_ml": 20.0} for larger in pair_larger],
        "realism": {"pairwise_ms_ssim": 0.8, "histogram_w1_to_held_out": [0.02, 0.03],
                    "histogram_w1_held_out_to_train_baseline": 0.01,
                    "nearest_training": [{"subject": "s1", "ssim": 0.7}, {"subject": "s2", "ssim": 0.75}]},
        "wall_time_s": 60.0,
    }


def test_passing_numbers_pass():
    ages = [(age, 10 + age) for age in range(20, 100, 2)]
    data = results([True] * 20, [True] * 40, ages)
    summary = quality_report.summarise(data)
    assert all(summary["targets"].values())
    assert summary["age_ventricle_spearman"] == pytest.approx(1.0)
    data["summary"] = summary
    report = markdown_report(data)
    assert "FAIL" not in report and "| 100% (median difference 10.0 ml) | >= 90% | pass |" in report
    assert "guidance 3.0, no structure guidance." in report and report.startswith("## Measured quality\n")
    data["sampling"].update(structure_guidance=3.0, seed_offset=500)
    other = markdown_report(data)
    assert "guidance 3.0, structure guidance 3, seeds offset by 500." in other
    assert other.startswith("## Measured quality, other seeds\n")  # its own card section


def test_each_target_can_fail():
    rng = np.random.default_rng(0)
    ages = [(int(age), float(v)) for age, v in zip(rng.integers(20, 90, 40), rng.random(40))]
    data = results([True] * 17 + [False] * 3, [True] * 37 + [False] * 3, ages)
    data["reconstruction"] = [{"ssim": 0.90, "psnr": 25.0}]
    data["realism"]["pairwise_ms_ssim"] = 0.97
    summary = quality_report.summarise(data)
    assert summary["ventricle_pairs_larger"] == pytest.approx(0.85)
    assert summary["ventricle_pairs_median_difference_ml"] == pytest.approx(10.0)  # 17 of +10 ml, 3 of -10 ml
    assert summary["modality_adherence"] == pytest.approx(0.925)
    assert not any(summary["targets"].values())
    data["summary"] = summary
    assert markdown_report(data).count("FAIL") == 6


def test_contrast_order_per_modality(monkeypatch):
    monkeypatch.setattr(adherence, "tissue_means", lambda image, grid: {"wm": 0.8, "gm": 0.6, "ventricles": 0.2, "deep_gm": 0.6})
    assert adherence.contrast_follows(None, "T1", None)[0]
    assert not adherence.contrast_follows(None, "T2", None)[0]
    assert not adherence.contrast_follows(None, "FLAIR", None)[0]


def test_prompts_use_caption_wording():
    assert adherence.prompt("T2", 72, "F", "enlarged") == "T2-weighted MRI of a 72-year-old woman with enlarged ventricles"
    assert adherence.prompt("PD", 30, "M") == "proton-density-weighted MRI of a 30-year-old man"


def test_card_sections_are_replaced_or_appended(tmp_path):
    from training.evaluation.card import replace_section, update_card

    card = "# Model\n\nintro\n\n## Measured quality\n\n**Not yet measured.**\n\n## Licence\n\nMIT\n"
    updated = replace_section(card, "## Measured quality\n\n| a | b |\n")
    assert updated == "# Model\n\nintro\n\n## Measured quality\n\n| a | b |\n\n## Licence\n\nMIT\n"
    appended = replace_section(updated, "## Measured inpainting quality\n\n18/20\n")
    assert appended.endswith("## Licence\n\nMIT\n\n## Measured inpainting quality\n\n18/20\n")
    assert replace_section(appended, "## Measured inpainting quality\n\n19/20\n").count("inpainting quality") == 1
    with pytest.raises(ValueError, match="heading"):
        replace_section(card, "no heading")
    path = tmp_path / "README.md"
    path.write_text(card)
    update_card(path, "## Measured quality\n\nnumbers\n")
    assert "numbers" in path.read_text() and "Not yet measured" not in path.read_text()
    with pytest.raises(FileNotFoundError, match="model card"):
        update_card(tmp_path / "missing.md", "## X\n")
