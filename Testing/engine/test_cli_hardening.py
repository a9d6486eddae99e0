"""The CLI checks every output path and argument before the heavy imports, reads with read-side messages, and
takes -q/-v on either side of the command."""

from __future__ import annotations

import gzip
import subprocess
import sys

import pytest

import braingen3d.cli.main as cli_main
from braingen3d.cli.main import main


def run_main(capsys, *args: str) -> tuple[int, str]:
    code = main(["-q", *args])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("make_output, message", [
    (lambda d: d / "x.seg.nrrd", "a .seg.nrrd holds a Slicer segmentation, not an image"),
    (lambda d: d, "is a folder; give a file name such as"),
    (lambda d: d / "afile" / "x.nii.gz", "afile is a file, not a folder"),
])
@pytest.mark.parametrize("count", ["1", "3"])
def test_generate_checks_the_output_path_fully_before_any_model_work(tiny_bundle, tmp_path, capsys, monkeypatch,
                                                                      make_output, message, count):
    from braingen3d.pipelines.generation import BrainGenPipeline

    monkeypatch.setattr(BrainGenPipeline, "from_bundle", lambda *a, **k: pytest.fail("the model was loaded"))
    (tmp_path / "afile").write_text("not a folder")
    code, err = run_main(capsys, "generate", "T1 MRI", "-o", str(make_output(tmp_path)), "--bundle", str(tiny_bundle),
                         "--n", count)
    assert code == 2 and message in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


@pytest.mark.parametrize("bad", [["--guidance", "nan"], ["--steps", "0"], ["--seed", "-1"], ["--device", "gpu"],
                                 ["-o", "brain.txt"]])
def test_generate_reports_bad_arguments_without_importing_torch_or_monai(tiny_bundle, tmp_path, bad):
    args = ["generate", "T1 MRI", "-o", str(tmp_path / "b.nii.gz"), "--bundle", str(tiny_bundle), *bad]
    code = ("import sys; from braingen3d.cli.main import main; code = main(sys.argv[1:]); "
            "print(code, 'torch' in sys.modules, 'monai' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    assert result.stdout.split() == ["2", "False", "False"], result.stderr
    assert result.stderr.startswith("error: ")


def test_provenance_of_a_corrupt_nifti_is_a_read_side_message(tmp_path, capsys):
    corrupt = tmp_path / "broken.nii.gz"
    corrupt.write_bytes(gzip.compress(b"\x00" * 100))
    code, err = run_main(capsys, "provenance", str(corrupt))
    assert code == 2 and "is not a readable NIfTI file" in err
    assert "Traceback" not in err and "free space" not in err and "partial output" not in err


def test_provenance_of_a_missing_file_gives_no_write_advice(tmp_path, capsys):
    code, err = run_main(capsys, "provenance", str(tmp_path / "gone.nii.gz"))
    assert code == 2 and "does not exist. Check the path" in err
    assert "free space" not in err and "partial output" not in err and ".." not in err


@pytest.mark.parametrize("argv, verbosity", [
    (["-q", "info"], -1), (["info", "-q"], -1), (["info", "--quiet"], -1),
    (["-v", "info"], 1), (["info", "-v"], 1), (["-v", "info", "-v"], 2), (["info"], 0),
])
def test_global_quiet_and_verbose_are_accepted_after_the_command(monkeypatch, argv, verbosity):
    seen = {}
    monkeypatch.setattr(cli_main, "configure_logging", lambda level: seen.setdefault("level", level))
    monkeypatch.setattr(cli_main, "run_guarded", lambda action: 0)
    assert main(argv) == 0
    assert seen["level"] == verbosity


def test_quiet_and_verbose_after_the_command_reach_the_handler(monkeypatch):
    import braingen3d.cli.generate as generate

    seen = {}
    monkeypatch.setattr(generate, "run", lambda args: seen.update(quiet=args.quiet, verbose=args.verbose) or 0)
    monkeypatch.setattr(cli_main, "configure_logging", lambda level: None)
    assert main(["-v", "generate", "T1", "-o", "b.nii.gz", "-q", "-v"]) == 0
    assert seen == {"quiet": True, "verbose": 2}
