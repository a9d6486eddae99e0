"""The braingen3d command line, run as a user would, including every bad-input case."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from PIL import Image

from braingen3d.cli.main import build_parser, main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "braingen3d.cli.main", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def run_main(capsys, *args: str) -> tuple[int, str]:
    """The same entry point as the console script, in-process (a subprocess costs ~7 s of imports)."""
    code = main(["-q", *args])
    return code, capsys.readouterr().err


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.slow
def test_generate_writes_volume_sidecar_and_preview(tiny_bundle, tmp_path):
    out = tmp_path / "brain.nii.gz"
    result = run_cli("generate", "T2-weighted MRI of a 72-year-old woman", "-o", str(out), "--bundle", str(tiny_bundle),
                     "--seed", "4", "--steps", "3", "--n", "2", "--sampler", "ddim", "--guidance", "2")
    assert result.returncode == 0, result.stderr
    assert leftovers(tmp_path) == ["brain_001.json", "brain_001.nii.gz", "brain_001.png",
                                   "brain_002.json", "brain_002.nii.gz", "brain_002.png"]
    assert "volume 2/2" in result.stderr  # the progress bar
    image = nib.load(tmp_path / "brain_002.nii.gz")
    sidecar = json.loads((tmp_path / "brain_002.json").read_text())
    assert sidecar["seed"] == 5 and sidecar["sampler"] == "ddim" and sidecar["synthetic"] is True
    assert b"SYNTHETIC" in image.header["descrip"].tobytes()
    assert Image.open(tmp_path / "brain_001.png").size[0] > 3 * 16


def test_cli_output_equals_python_api_output(tiny_bundle, tiny_pipeline, tmp_path):
    out = tmp_path / "same.nii.gz"
    assert main(["-q", "generate", "FLAIR brain", "-o", str(out), "--bundle", str(tiny_bundle), "--seed", "8",
                 "--steps", "3", "--no-preview"]) == 0
    api = tiny_pipeline("FLAIR brain", num_inference_steps=3, seed=8).volumes[0].array
    assert np.array_equal(np.asarray(nib.load(out).dataobj), api)


def test_nrrd_output(tiny_bundle, tmp_path):
    out = tmp_path / "brain.nrrd"
    assert main(["-q", "generate", "PD brain", "-o", str(out), "--bundle", str(tiny_bundle), "--seed", "1",
                 "--steps", "2"]) == 0
    assert (tmp_path / "brain.json").is_file() and (tmp_path / "brain.png").is_file()


def test_info_prints_card_and_capabilities(tiny_bundle, capsys):
    assert main(["info", "--bundle", str(tiny_bundle)]) == 0
    out = capsys.readouterr().out
    assert "random weights" in out and "capabilities:" in out and "inpaint=" in out
    assert "structure_guidance=False" in out


def test_help_lists_every_option():
    parser = build_parser()
    top = parser.format_help()
    for command in ("generate", "info", "provenance"):
        assert command in top
    generate_help = parser._subparsers._group_actions[0].choices["generate"].format_help()
    for option in ("--negative-prompt", "--steps", "--guidance", "--sampler", "--seed", "--n", "--device",
                   "--bundle", "--overwrite", "--unconditional", "dpm++", "--structure-guidance", "--ventricles-ml"):
        assert option in generate_help


@pytest.mark.parametrize("args, message", [
    (["", ], "prompt is empty"),
    (["T1", "--steps", "0"], "steps must be"),
    (["T1", "--steps", "1001"], "steps must be"),
    (["T1", "--guidance", "-1"], "guidance must be"),
    (["T1", "--n", "0"], "number of volumes"),
    (["T1", "--sampler", "plms"], "invalid choice"),
    (["T1", "--device", "tpu"], "Unknown device"),
    (["T1", "--device", "cuda"], "no CUDA GPU"),
    (["T1", "--ventricles-ml", "40"], "no structure guidance"),
])
def test_bad_input_exits_non_zero_with_a_message_and_no_file(tiny_bundle, tmp_path, capsys, args, message):
    if "cuda" in args and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out = tmp_path / "out.nii.gz"
    try:
        code, err = run_main(capsys, "generate", *args, "-o", str(out), "--bundle", str(tiny_bundle))
    except SystemExit as exc:  # argparse rejects choices itself
        code, err = exc.code, capsys.readouterr().err
    assert code != 0
    assert message in err
    assert leftovers(tmp_path) == []


def test_empty_prompt_works_with_unconditional_flag(tiny_bundle, tmp_path):
    assert main(["-q", "generate", "", "--unconditional", "-o", str(tmp_path / "u.nii.gz"), "--bundle",
                 str(tiny_bundle), "--steps", "2", "--seed", "0"]) == 0


@pytest.mark.slow
def test_existing_output_needs_overwrite(tiny_bundle, tmp_path, capsys):
    out = tmp_path / "brain.nii.gz"
    out.write_bytes(b"user data")
    code, err = run_main(capsys, "generate", "T1", "-o", str(out), "--bundle", str(tiny_bundle), "--steps", "2")
    assert code == 2 and "--overwrite" in err
    assert out.read_bytes() == b"user data" and leftovers(tmp_path) == ["brain.nii.gz"]
    assert main(["-q", "generate", "T1", "-o", str(out), "--bundle", str(tiny_bundle), "--steps", "2", "--overwrite"]) == 0
    assert out.read_bytes() != b"user data"


def test_unwritable_folder_is_refused_before_work(tiny_bundle, tmp_path, capsys, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.geteuid() == 0:  # root bypasses permission bits; make the OS answer as it would for a user
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == locked else real_access(p, mode))
    code, err = run_main(capsys, "generate", "T1", "-o", str(locked / "b.nii.gz"), "--bundle", str(tiny_bundle))
    assert code == 2 and "not writable" in err
    assert leftovers(locked) == []


def test_missing_output_folder_and_unsupported_suffix(tiny_bundle, tmp_path, capsys):
    code, err = run_main(capsys, "generate", "T1", "-o", str(tmp_path / "no" / "b.nii.gz"), "--bundle", str(tiny_bundle))
    assert code == 2 and "does not exist" in err
    code, err = run_main(capsys, "generate", "T1", "-o", str(tmp_path / "b.mha"), "--bundle", str(tiny_bundle))
    assert code == 2 and "Unsupported output type" in err
    assert leftovers(tmp_path) == []


def test_output_path_that_is_a_folder(tiny_bundle, tmp_path, capsys):
    (tmp_path / "dir.nii.gz").mkdir()
    code, err = run_main(capsys, "generate", "T1", "-o", str(tmp_path / "dir.nii.gz"), "--bundle", str(tiny_bundle), "--overwrite")
    assert code == 2 and "is a folder" in err


@pytest.mark.parametrize("damage, message", [
    (lambda b: (b / "unet.safetensors").unlink(), "missing"),
    (lambda b: (b / "unet.safetensors").write_bytes(b"\x00" * 64), "not a valid safetensors"),
    (lambda b: torch.save({"w": torch.zeros(2)}, b / "unet.safetensors"), "never unpickles"),
    (lambda b: (b / "config.json").write_text(
        (b / "config.json").read_text().replace('"cross_attention_dim": 384', '"cross_attention_dim": 128')), "cross_attention_dim"),
])
def test_broken_bundles_exit_with_a_named_problem_and_no_file(tiny_bundle, tmp_path, capsys, damage, message):
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    damage(bundle)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, err = run_main(capsys, "generate", "T1", "-o", str(out_dir / "b.nii.gz"), "--bundle", str(bundle), "--steps", "2")
    assert code == 3
    assert message in err
    assert leftovers(out_dir) == []


@pytest.mark.slow
def test_provenance_command_reads_nifti_and_nrrd(tiny_bundle, tmp_path, capsys):
    for name in ("p.nii.gz", "p2.nrrd"):
        out = tmp_path / name
        assert main(["-q", "generate", "T1 brain", "-o", str(out), "--bundle", str(tiny_bundle), "--seed", "77",
                     "--steps", "2", "--no-preview"]) == 0
        (tmp_path / (name.split(".")[0] + ".json")).unlink()  # the header alone must carry it
        capsys.readouterr()
        assert main(["provenance", str(out)]) == 0
        record = json.loads(capsys.readouterr().out)
        assert record["seed"] == 77 and record["synthetic"] is True and record["prompt"] == "T1 brain"


@pytest.mark.slow
def test_engine_imports_no_gui_toolkit():
    code = ("import sys, braingen3d.pipelines.generation, braingen3d.cli.main, braingen3d.worker.server, braingen3d.io; "
            "bad = sorted({m.split('.')[0] for m in sys.modules} & {'slicer', 'qt', 'vtk', 'ctk', 'PySide6', 'PyQt5'}); "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout
