"""``braingen3d inpaint`` (in-process) and the worker's ``inpaint`` task (one real subprocess)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from braingen3d.cli.main import main
from braingen3d.io import nifti_provenance
from braingen3d.pipelines.inpaint import MaskError
from braingen3d.worker.protocol import InpaintTask
from braingen3d.worker.tasks import run_inpaint
from Testing.inpaint.inpaint_phantoms import make_case, save_nifti

PROMPT = "a 15 mm white-matter hyperintensity"


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["-q", "inpaint", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.slow
def test_cli_writes_volume_mask_and_sidecars_in_the_input_geometry(tiny_bundle, case_files, tmp_path, capsys):
    volume, mask, case = case_files(make_case("oblique", dtype=np.int16))
    out = tmp_path / "out" / "edited.nii.gz"
    out.parent.mkdir()
    code, stdout, stderr = cli(capsys, str(volume), str(mask), PROMPT, "-o", str(out), "--bundle", str(tiny_bundle),
                               "--seed", "3", "--steps", "2", "--blend-margin-mm", "3", "--device", "cpu")
    assert code == 0, stderr
    assert sorted(p.name for p in out.parent.iterdir()) == ["edited.json", "edited.nii.gz", "edited_lesion_mask.json",
                                                          "edited_lesion_mask.nii.gz"]
    assert set(stdout.split()) == {str(p) for p in out.parent.iterdir()}
    image = nib.load(out)
    data = np.asanyarray(image.dataobj)
    assert data.dtype == np.int16
    np.testing.assert_allclose(image.affine, case.affine, atol=1e-4)
    # Voxels are 4-6 mm apart, so no voxel outside the mask lies within the 3 mm margin.
    assert np.array_equal(data[case.mask == 0], case.volume[case.mask == 0])
    changed = data != case.volume
    assert changed.any() and np.all(case.mask[changed] == 1)
    lesion = nib.load(out.parent / "edited_lesion_mask.nii.gz")
    assert np.array_equal(np.asanyarray(lesion.dataobj), case.mask)
    provenance = nifti_provenance(out)
    assert provenance == json.loads((out.parent / "edited.json").read_text())
    assert provenance["task"] == "inpaint" and provenance["source_volume"] == "volume.nii.gz"
    # The prompt asks for a hyperintensity: up to 3 seeds from 3 on, and the sidecar names the one returned.
    check = provenance["contrast_check"]
    tried = [a["seed"] for a in check["attempts"]]
    assert provenance["requested_seed"] == 3 and tried == list(range(3, 3 + len(tried))) and 1 <= len(tried) <= 3
    assert provenance["seed"] in tried and check["requested"] == "hyperintense" and check["checked"]
    assert check["passed"] == any(a["passed"] for a in check["attempts"])
    assert provenance["source_volume_sha256"] == hashlib.sha256(volume.read_bytes()).hexdigest()
    assert json.loads((out.parent / "edited_lesion_mask.json").read_text())["role"] == "lesion_mask"
    assert b"SYNTHETIC" in image.header["descrip"].tobytes()


@pytest.mark.slow
def test_cli_refuses_a_mask_on_another_grid_and_writes_nothing_then_resamples_when_asked(tiny_bundle, tmp_path, capsys):
    case = make_case("ras")
    fine = make_case("lps", shape=(64, 88, 52), spacing=np.array([2.5, 2.0, 3.0]))
    volume = save_nifti(tmp_path / "t2.nii.gz", case.volume, case.affine)
    mask = save_nifti(tmp_path / "lesion.nii.gz", fine.mask, fine.affine)
    out = tmp_path / "result.nii.gz"
    args = [str(volume), str(mask), PROMPT, "-o", str(out), "--bundle", str(tiny_bundle), "--steps", "1", "--seed", "1"]
    code, _, stderr = cli(capsys, *args)
    assert code == 2 and "--resample-mask" in stderr and "shape" in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lesion.nii.gz", "t2.nii.gz"]
    code, _, stderr = cli(capsys, *args, "--resample-mask")
    assert code == 0, stderr
    assert np.asanyarray(nib.load(tmp_path / "result_lesion_mask.nii.gz").dataobj).shape == case.volume.shape


@pytest.mark.parametrize("problem", ["empty mask", "no inpainting", "output is the input", "output exists"])
def test_cli_bad_input_exits_2_and_writes_nothing(tiny_bundle, no_inpaint_bundle, case_files, tmp_path, capsys, problem):
    volume, mask, case = case_files(make_case())
    out = tmp_path / "edited.nii.gz"
    bundle = no_inpaint_bundle if problem == "no inpainting" else tiny_bundle
    if problem == "empty mask":
        save_nifti(mask, np.zeros_like(case.mask), case.affine)
    if problem == "output is the input":
        out = volume
    if problem == "output exists":
        out.write_bytes(b"precious")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    code, _, stderr = cli(capsys, str(volume), str(mask), PROMPT, "-o", str(out), "--bundle", str(bundle),
                          "--steps", "1", "--overwrite" if problem == "output is the input" else "--seed=0")
    assert code == 2
    expected = {"empty mask": "empty", "no inpainting": "does not support inpainting",
                "output is the input": "would replace an input", "output exists": "already exists"}[problem]
    assert expected in stderr
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_worker_task_refuses_bad_input_before_writing(tiny_bundle, case_files, tmp_path):
    volume, mask, case = case_files(make_case())
    save_nifti(mask, np.zeros_like(case.mask), case.affine)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(MaskError) as caught:
        run_inpaint(InpaintTask(output_dir=str(out), volume=str(volume), mask=str(mask), prompt=PROMPT,
                                bundle=str(tiny_bundle)), lambda *a, **k: None)
    assert caught.value.kind == "invalid_input"
    assert list(out.iterdir()) == []


@pytest.mark.slow
def test_worker_process_inpaints_and_reports_both_outputs(tiny_bundle, case_files, tmp_path):
    volume, mask, case = case_files(make_case("lps", dtype=np.float32))
    request = {"task": "inpaint", "volume": str(volume), "mask": str(mask), "prompt": PROMPT, "negative_prompt": "",
               "steps": 2, "guidance": 2.0, "sampler": "ddim", "seed": 5, "bundle": str(tiny_bundle), "device": "cpu",
               "method": "auto", "blend_margin_mm": 2.0, "attempts": 1, "output_dir": str(tmp_path / "out")}
    result = subprocess.run([sys.executable, "-m", "braingen3d.worker"], input=json.dumps(request),
                            capture_output=True, text=True, timeout=300)
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 0, result.stderr[-2000:]
    assert events[0]["event"] == "started" and [e["event"] for e in events[-2:]] == ["result", "done"]
    assert [e["step"] for e in events if e["event"] == "progress" and e["phase"] == "denoise"] == [1, 2, 3, 4]
    outputs = {o["role"]: o for o in events[-2]["outputs"]}
    assert set(outputs) == {"volume", "lesion_mask"}
    for output in outputs.values():
        assert Path(output["path"]).parent == tmp_path / "out" and Path(output["path"]).is_file()
        assert output["provenance"]["method"] == "repaint" and output["provenance"]["sampler"] == "ddim"
        assert output["provenance"]["seed"] == 5 and output["provenance"]["max_attempts"] == 1
    edited = np.asanyarray(nib.load(outputs["volume"]["path"]).dataobj)
    assert edited.dtype == np.float32 and np.array_equal(edited[case.mask == 0], case.volume[case.mask == 0])
    assert np.array_equal(np.asanyarray(nib.load(outputs["lesion_mask"]["path"]).dataobj), case.mask)


@pytest.mark.slow
def test_cli_reads_and_writes_nrrd(tiny_bundle, tmp_path, capsys):
    from braingen3d.io import read_nrrd, write_nrrd

    case = make_case("oblique", dtype=np.float32)
    volume = write_nrrd(tmp_path / "flair.nrrd", case.volume, case.affine)
    mask = write_nrrd(tmp_path / "lesion.nrrd", case.mask, case.affine)
    out = tmp_path / "edited.nrrd"
    code, _, stderr = cli(capsys, str(volume), str(mask), PROMPT, "-o", str(out), "--bundle", str(tiny_bundle),
                          "--steps", "1", "--seed", "2", "--blend-margin-mm", "0")
    assert code == 0, stderr
    edited, affine, header = read_nrrd(out)
    np.testing.assert_allclose(affine, case.affine, atol=1e-6)
    assert np.array_equal(edited[case.mask == 0], case.volume[case.mask == 0])
    assert not np.array_equal(edited[case.mask == 1], case.volume[case.mask == 1])
    assert np.array_equal(read_nrrd(tmp_path / "edited_lesion_mask.nrrd")[0], case.mask)


@pytest.mark.parametrize("option, value, message", [("--attempts", "0", "attempts must be a whole number from 1 to 10"),
                                                    ("--min-contrast", "0.5", "min_contrast must be a number from 1 to 3")])
def test_cli_refuses_bad_contrast_check_settings_before_writing(tiny_bundle, case_files, tmp_path, capsys, option, value,
                                                                message):
    volume, mask, _ = case_files(make_case())
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, stderr = cli(capsys, str(volume), str(mask), PROMPT, "-o", str(tmp_path / "edited.nii.gz"), "--bundle",
                          str(tiny_bundle), option, value)
    assert code == 2 and message in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before
