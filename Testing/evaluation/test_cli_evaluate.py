"""``braingen3d evaluate`` as a user runs it: a full report, generation, and every bad input."""

from __future__ import annotations

import json
import shutil

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from braingen3d.cli.main import main

import eval_phantoms as phantoms

FAST = ["--frd-features", "original", "--folds", "3", "--skip", "cnn_reader"]


def run(capsys, *args: str) -> tuple[int, str]:
    code = main(["-q", "evaluate", *args])
    return code, capsys.readouterr().err


def test_full_report_from_a_generated_folder(phantom_bundle, phantom_folders, tmp_path, capsys):
    out = tmp_path / "report"
    code, err = run(capsys, "--bundle", str(phantom_bundle), "--reference", str(phantom_folders["reference"]),
                    "--generated", str(phantom_folders["same_population"]), "--training", str(phantom_folders["training"]),
                    "-o", str(out), *FAST)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["histograms.png", "montage.png", "report.json", "report.md"]
    report = json.loads((out / "report.json").read_text())
    measures = report["measures"]
    assert set(measures) == {"histograms", "frd", "simple_reader", "latent", "diversity", "memorisation",
                             "background_detail", "montage"}
    assert set(measures["histograms"]) == {"T1", "T2"}
    for entry in measures["histograms"].values():
        assert entry["baseline_w1"] > 0 and entry["n_generated"] == entry["n_reference_b"] == 4
    assert set(measures["simple_reader"]) == {"generated_vs_reference", "baseline"}
    main_reader = measures["simple_reader"]["generated_vs_reference"]
    assert main_reader["n_positive"] == main_reader["n_negative"] == 8  # generated vs reference half A
    assert measures["memorisation"]["measured"] and measures["memorisation"]["n_held_out"] == 16
    assert report["inputs"]["reference"]["n"] == 16 and report["inputs"]["training"]["n"] == 24
    assert {row["measure"] for row in report["table"]} >= {"in-brain histogram W1, T1", "latent MMD (linear kernel, unbiased)"}
    markdown = (out / "report.md").read_text()
    assert "| measure | generated | baseline (reference) |" in markdown and "![montage](montage.png)" in markdown
    assert "Skipped at the user's request: cnn_reader" in markdown
    with Image.open(out / "montage.png") as montage:
        assert montage.height > 2 * 64  # one row per modality


def test_generates_with_prompts_from_reference_subjects(phantom_bundle, tmp_path, capsys):
    reference = tmp_path / "reference"
    volumes = phantoms.cohort(6, 1, ("T1", "T2"))
    phantoms.write_volumes(reference, volumes, sidecars={subject: {"age": 40 + i, "sex": "FM"[i % 2]}
                                                         for i, subject in enumerate(sorted({v[0] for v in volumes}))})
    out = tmp_path / "report"
    code, err = run(capsys, "--bundle", str(phantom_bundle), "--reference", str(reference), "--n", "6", "--seed", "40",
                    "--steps", "2", "--keep-generated", "-o", str(out), "--skip", "frd", "cnn_reader", "diversity",
                    "simple_reader", "--folds", "2")
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    made = report["generated_volumes"]
    assert [v["seed"] for v in made] == list(range(40, 46))
    assert [v["modality"] for v in made] == ["T1", "T2"] * 3
    assert made[0]["prompt"] == "T1-weighted MRI of a 40-year-old woman" and made[1]["prompt"].startswith("T2-weighted MRI")
    kept = sorted(p.name for p in out.glob("gen*.nii.gz"))
    assert kept[0] == "gen000_T1.nii.gz" and len(kept) == 6 and (out / "gen000_T1.json").is_file()
    assert report["inputs"]["generated"]["per_modality"] == {"T1": 3, "T2": 3}
    assert report["measures"]["memorisation"] == {"measured": False, "reason": "no --training given"}


def test_volumes_on_another_grid_are_resampled_and_the_report_says_so(phantom_bundle, phantom_folders, tmp_path, capsys):
    coarse = tmp_path / "coarse"
    coarse.mkdir()
    affine = phantoms.GRID.affine.copy()
    affine[:3, :3] *= 2  # 4 mm voxels over the same field of view
    for path in sorted(phantom_folders["reference"].glob("*.nii.gz")):
        data = np.asarray(nib.load(str(path)).dataobj)[::2, ::2, ::2] * 800.0  # another grid and scanner units
        nib.save(nib.Nifti1Image(data.astype(np.float32), affine), str(coarse / path.name))
    out = tmp_path / "report"
    code, err = run(capsys, "--bundle", str(phantom_bundle), "--reference", str(coarse),
                    "--generated", str(phantom_folders["same_population"]), "-o", str(out), *FAST,
                    "frd", "latent", "diversity", "memorisation")
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert report["inputs"]["reference"]["resampled"] == 16 and report["inputs"]["reference"]["normalised"] == 16
    assert "16 of 16 reference volumes were on another grid and were resampled" in (out / "report.md").read_text()


def _expect_failure(capsys, tmp_path, args, message, code=2):
    out = tmp_path / "report"
    result, err = run(capsys, *args, "-o", str(out), *FAST)
    assert result == code, err
    assert message in err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".report")]


def test_a_folder_without_readable_volumes_is_refused(phantom_bundle, phantom_folders, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no volumes")
    _expect_failure(capsys, tmp_path, ["--bundle", str(phantom_bundle), "--reference", str(empty),
                                       "--generated", str(phantom_folders["same_population"])], "holds no readable volumes")


def test_fewer_than_five_volumes_a_side_are_refused(phantom_bundle, phantom_folders, tmp_path, capsys):
    few = tmp_path / "few"
    few.mkdir()
    for path in sorted(phantom_folders["same_population"].glob("*.nii.gz"))[:4]:
        shutil.copy(path, few / path.name)
    _expect_failure(capsys, tmp_path, ["--bundle", str(phantom_bundle), "--reference", str(phantom_folders["reference"]),
                                       "--generated", str(few)], "has 4 volume(s); at least 5 are needed")
    _expect_failure(capsys, tmp_path, ["--bundle", str(phantom_bundle), "--reference", str(few), "--n", "40"],
                    "has 4 volume(s); at least 5 are needed")
    _expect_failure(capsys, tmp_path, ["--bundle", str(phantom_bundle), "--reference", str(phantom_folders["reference"]),
                                       "--n", "4"], "at least 5 generated volumes")


def test_a_modality_on_one_side_only_is_refused(phantom_bundle, phantom_folders, tmp_path, capsys):
    flair = phantoms.write_volumes(tmp_path / "flair", phantoms.cohort(6, 4, ("T1", "FLAIR"), prefix="f"))
    _expect_failure(capsys, tmp_path, ["--bundle", str(phantom_bundle), "--reference", str(phantom_folders["reference"]),
                                       "--generated", str(flair)],
                    "Modalities differ between the sides: FLAIR only among the generated volumes; T2 only in the reference")


@pytest.mark.parametrize("damage, message", [
    (lambda b: (b / "config.json").unlink(), "config.json"),
    (lambda b: (b / "autoencoder.safetensors").write_bytes(b"garbage"), "autoencoder"),
])
def test_a_bundle_that_cannot_load_is_refused(phantom_bundle, phantom_folders, tmp_path, capsys, damage, message):
    broken = tmp_path / "bundle"
    shutil.copytree(phantom_bundle, broken)
    damage(broken)
    _expect_failure(capsys, tmp_path, ["--bundle", str(broken), "--reference", str(phantom_folders["reference"]),
                                       "--generated", str(phantom_folders["same_population"])], message, code=3)


def test_training_overlapping_the_reference_is_refused(phantom_bundle, phantom_folders, tmp_path, capsys):
    _expect_failure(capsys, tmp_path, ["--bundle", str(phantom_bundle), "--reference", str(phantom_folders["reference"]),
                                       "--generated", str(phantom_folders["same_population"]),
                                       "--training", str(phantom_folders["reference"])], "are also training volumes")


def test_an_existing_report_needs_overwrite_and_a_failure_leaves_it_untouched(phantom_bundle, phantom_folders, tmp_path,
                                                                             capsys, monkeypatch):
    out = tmp_path / "report"
    out.mkdir()
    (out / "old.txt").write_text("previous report")
    args = ["--bundle", str(phantom_bundle), "--reference", str(phantom_folders["reference"]),
            "--generated", str(phantom_folders["same_population"]), "-o", str(out), *FAST]
    code, err = run(capsys, *args)
    assert code == 2 and "already exists" in err and "--overwrite" in err
    from braingen3d.evaluation import histograms

    def fail(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(histograms, "plot_histograms", fail)
    code, err = run(capsys, *args, "--overwrite")
    assert code == 1 and "No space left" in err
    assert [p.name for p in out.iterdir()] == ["old.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_help_lists_the_options_and_loads_no_heavy_package():
    import subprocess
    import sys

    code = ("import sys; from braingen3d.cli.main import build_parser; "
            "text = build_parser()._subparsers._group_actions[0].choices['evaluate'].format_help(); "
            "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'monai', 'sklearn', 'frd_score', "
            "'radiomics', 'matplotlib'}); print(heavy); print(text)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("[]"), result.stdout[:200]
    for option in ("--reference", "--training", "--generated", "--n", "--seed", "--steps", "--frd-features",
                   "--cnn-epochs", "--skip", "--keep-generated", "--overwrite", "evaluate"):
        assert option in result.stdout
