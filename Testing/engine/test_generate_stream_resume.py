"""generate --n writes each volume as soon as it is made, names the finished ones when it stops, and --resume
makes only the rest, identical to what one uninterrupted run makes."""

from __future__ import annotations

import errno
import json

import numpy as np
import pytest

from braingen3d.cli.main import build_parser, main
from braingen3d.io import atomic, read_volume
from braingen3d.io.nifti import nifti_provenance
from braingen3d.pipelines.generation import BrainGenPipeline
from braingen3d.requests.generation import GenerationRequest
from Testing.kill_at_commit import kill_at_commit

REQUEST = GenerationRequest("FLAIR brain", steps=2, seed=11, num_volumes=3)


def generate(tiny_bundle, out, *extra: str) -> int:
    return main(["-q", "generate", "FLAIR brain", "-o", str(out), "--bundle", str(tiny_bundle), "--steps", "2",
                 "--seed", "11", "--n", "3", *extra])


def files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def record_indices(monkeypatch) -> list[int]:
    made: list[int] = []
    real = BrainGenPipeline.generate_volumes

    def recording(self, request, *args, **kwargs):
        for volume in real(self, request, *args, **kwargs):
            made.append(volume.provenance["index"])
            yield volume

    monkeypatch.setattr(BrainGenPipeline, "generate_volumes", recording)
    return made


@pytest.fixture(scope="module")
def batched(tiny_pipeline):
    """The three volumes of one uninterrupted call."""
    return tiny_pipeline.generate(REQUEST).volumes


def test_a_volume_made_alone_equals_the_same_volume_of_the_batched_call(tiny_pipeline, batched):
    alone = list(tiny_pipeline.generate_volumes(REQUEST, indices=[0, 2]))
    for volume, k in zip(alone, [0, 2]):
        np.testing.assert_array_equal(volume.array, batched[k].array)
        for key in ("seed", "index", "num_volumes", "prompt", "steps", "guidance_scale", "sampler"):
            assert volume.provenance[key] == batched[k].provenance[key]
    assert [v.provenance["seed"] for v in alone] == [11, 13]


def test_volumes_are_yielded_one_at_a_time(tiny_pipeline):
    events = []
    stream = tiny_pipeline.generate_volumes(REQUEST, callback=events.append)
    first = next(stream)
    assert first.provenance["index"] == 0 and {e.volume for e in events} == {1}  # volume 2 not started yet
    stream.close()


def test_bad_indices_are_refused(tiny_pipeline):
    from braingen3d.core.errors import InvalidInputError

    for indices in ([3], [1, 0], [1, 1]):
        with pytest.raises(InvalidInputError, match="indices"):
            list(tiny_pipeline.generate_volumes(REQUEST, indices=indices))


def test_a_full_disk_at_volume_3_keeps_volumes_1_and_2_and_says_so_then_resume_makes_only_volume_3(
        tiny_bundle, batched, tmp_path, capsys, monkeypatch):
    out = tmp_path / "b.nii.gz"
    real = atomic._commit

    def full_disk_at_volume_3(temporary, path):
        if path.name.startswith("b_003"):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(temporary, path)

    monkeypatch.setattr(atomic, "_commit", full_disk_at_volume_3)
    assert generate(tiny_bundle, out) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err
    assert "2 of 3 volume(s) are finished on disk, each with its sidecar: b_001.nii.gz to b_002.nii.gz." in err
    assert "Rerun the same command with --resume to make the other 1." in err
    assert "No partial output was left" not in err
    assert files(tmp_path) == ["b_001.json", "b_001.nii.gz", "b_001.png", "b_002.json", "b_002.nii.gz", "b_002.png"]
    kept = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in tmp_path.iterdir()}

    monkeypatch.setattr(atomic, "_commit", real)
    made = record_indices(monkeypatch)
    assert generate(tiny_bundle, out, "--resume") == 0
    assert made == [2]
    assert {p: s for p, s in ((p.name, (p.stat().st_ino, p.stat().st_mtime_ns)) for p in tmp_path.iterdir())
            if p in kept} == kept
    for k in range(3):
        array, _ = read_volume(tmp_path / f"b_{k + 1:03d}.nii.gz")
        np.testing.assert_array_equal(array, batched[k].array)
    assert json.loads((tmp_path / "b_003.json").read_text())["seed"] == 13


@pytest.mark.slow
@pytest.mark.parametrize("n, when", [(3, "before"), (3, "after"), (5, "after"), (9, "before")])
def test_generate_killed_at_a_commit_is_finished_by_resume(tiny_bundle, batched, tmp_path, monkeypatch, n, when):
    # Commits: sidecar, preview, image of volume 1, then of volume 2, then of volume 3 (the file-level crash
    # windows of one volume are covered commit by commit in test_output_crash_windows.py).
    out, disk = tmp_path / "out", tmp_path / "disk"
    out.mkdir()
    kill_at_commit(monkeypatch, lambda: generate(tiny_bundle, out / "b.nii.gz"), n, when, out, disk)
    for image in disk.glob("*.nii.gz"):  # a visible volume always has its own sidecar
        assert nifti_provenance(image)["seed"] == json.loads(image.with_name(image.name[:-7] + ".json").read_text())["seed"]
    missing = [k for k in range(3) if not (disk / f"b_{k + 1:03d}.nii.gz").exists()]
    assert missing == list(range((n - 1 + (when == "after")) // 3, 3))
    made = record_indices(monkeypatch)
    assert generate(tiny_bundle, disk / "b.nii.gz", "--resume") == 0
    assert made == missing
    assert files(disk) == sorted(f"b_{k:03d}.{ext}" for k in (1, 2, 3) for ext in ("json", "nii.gz", "png"))
    for k in range(3):
        np.testing.assert_array_equal(read_volume(disk / f"b_{k + 1:03d}.nii.gz")[0], batched[k].array)


def test_resume_refuses_a_volume_made_with_other_settings_before_loading_the_model(tiny_bundle, tmp_path, capsys,
                                                                                   monkeypatch):
    out = tmp_path / "b.nii.gz"
    assert generate(tiny_bundle, out) == 0
    (tmp_path / "b_003.nii.gz").unlink()
    monkeypatch.setattr(BrainGenPipeline, "from_bundle", lambda *a, **k: pytest.fail("the model was loaded"))
    assert generate(tiny_bundle, out, "--resume", "--guidance", "5") == 2
    err = capsys.readouterr().err
    assert "b_001.nii.gz was made differently from this request" in err and "(asked 5.0)" in err
    assert "--overwrite" in err
    assert main(["-q", "generate", "FLAIR brain", "-o", str(out), "--bundle", str(tiny_bundle), "--steps", "2",
                 "--seed", "12", "--n", "3", "--resume"]) == 2
    assert "seed 11 (asked 12)" in capsys.readouterr().err


def test_resume_with_every_volume_finished_makes_nothing(tiny_bundle, tmp_path, monkeypatch):
    out = tmp_path / "b.nii.gz"
    assert generate(tiny_bundle, out) == 0
    monkeypatch.setattr(BrainGenPipeline, "from_bundle", lambda *a, **k: pytest.fail("the model was loaded"))
    assert generate(tiny_bundle, out, "--resume") == 0


def test_resume_needs_the_seed(tiny_bundle, tmp_path, capsys):
    code = main(["-q", "generate", "T1", "-o", str(tmp_path / "b.nii.gz"), "--bundle", str(tiny_bundle), "--resume"])
    assert code == 2 and "--resume needs the --seed" in capsys.readouterr().err
    assert files(tmp_path) == []


def test_generate_help_documents_resume():
    generate_help = build_parser()._subparsers._group_actions[0].choices["generate"].format_help()
    assert "--resume" in generate_help and "--seed" in generate_help
