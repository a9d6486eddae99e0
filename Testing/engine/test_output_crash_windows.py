"""A generated or inpainted output set killed at any commit: the image is there only with its own sidecar and
preview, and the rerun, without --overwrite, finishes it and leaves no temporary file."""

from __future__ import annotations

import json
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pytest

from braingen3d.core.errors import OutputExistsError
from braingen3d.core.geometry import mni_grid
from braingen3d.core.provenance import make_provenance
from braingen3d.core.volume import SyntheticVolume
from braingen3d.io import check_outputs, write_volume
from braingen3d.io.nifti import nifti_provenance
from braingen3d.io.nrrd_io import PROVENANCE_KEY, read_nrrd_header
from braingen3d.pipelines.inpaint.outputs import InpaintOutputPaths, check_inpaint_outputs, write_inpaint_outputs
from Testing.kill_at_commit import count_commits, kill_at_commit

GRID = mni_grid((12, 14, 10), 4.0)
KILLS = [(n, when) for n in (1, 2, 3) for when in ("before", "after")]


def make_volume(seed: int) -> SyntheticVolume:
    array = np.random.default_rng(seed).random(GRID.shape).astype(np.float32)
    return SyntheticVolume(array, GRID.affine.copy(), make_provenance("generate", "b", "1", seed=seed, prompt="T1"))


def image_seed(path) -> int:
    if path.name.endswith(".nrrd"):
        return json.loads(read_nrrd_header(path)[PROVENANCE_KEY])["seed"]
    return nifti_provenance(path)["seed"]


def visible(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_write_volume_makes_three_commits_the_image_last(tmp_path, monkeypatch):
    assert count_commits(monkeypatch, lambda: write_volume(make_volume(1), tmp_path / "a.nii.gz")) == 3


@pytest.mark.parametrize("name", ["a.nii.gz", "a.nrrd"])
@pytest.mark.parametrize("n, when", KILLS)
def test_generate_outputs_killed_at_any_commit_are_finished_by_a_rerun_without_overwrite(tmp_path, monkeypatch,
                                                                                       name, n, when):
    out, disk = tmp_path / "out", tmp_path / "disk"
    out.mkdir()
    done = kill_at_commit(monkeypatch, lambda: write_volume(make_volume(1), out / name), n, when, out, disk)
    committed = [p.name for p in done]
    assert committed == ["a.json", "a.png", name][: len(done)]
    # The image appears only with the last commit: before it, no reader sees a volume.
    assert (name in visible(disk)) == (n == 3 and when == "after")
    check_outputs(disk / name, overwrite=(n == 3 and when == "after"))  # the rerun is not refused
    if n == 3 and when == "after":
        with pytest.raises(OutputExistsError):
            check_outputs(disk / name, overwrite=False)
        return
    write_volume(make_volume(1), disk / name)
    assert visible(disk) == sorted(["a.json", "a.png", name])  # no .partial left
    assert image_seed(disk / name) == json.loads((disk / "a.json").read_text())["seed"] == 1


@pytest.mark.parametrize("n, when", KILLS)
def test_overwrite_killed_at_any_commit_never_leaves_an_image_beside_another_sidecar(tmp_path, monkeypatch, n, when):
    out, disk = tmp_path / "out", tmp_path / "disk"
    out.mkdir()
    write_volume(make_volume(1), out / "a.nii.gz")
    kill_at_commit(monkeypatch, lambda: write_volume(make_volume(2), out / "a.nii.gz", overwrite=True),
                   n, when, out, disk)
    if (disk / "a.nii.gz").exists():
        assert image_seed(disk / "a.nii.gz") == json.loads((disk / "a.json").read_text())["seed"] == 2
    else:
        write_volume(make_volume(2), disk / "a.nii.gz")  # the unfinished set needs no --overwrite
    assert visible(disk) == ["a.json", "a.nii.gz", "a.png"]
    assert image_seed(disk / "a.nii.gz") == 2


def test_files_not_written_by_braingen3d_still_need_overwrite(tmp_path):
    (tmp_path / "a.json").write_text('{"mine": true}')
    (tmp_path / "b.png").write_bytes(b"not a preview")
    for target in ("a.nii.gz", "b.nii.gz"):
        with pytest.raises(OutputExistsError, match="--overwrite"):
            check_outputs(tmp_path / target, overwrite=False)
    assert (tmp_path / "a.json").read_text() == '{"mine": true}'


def test_a_live_writers_temporary_files_are_left_alone(tmp_path):
    from braingen3d.io.atomic import temporary_sibling

    running = temporary_sibling(tmp_path / "a.nii.gz")
    running.write_bytes(b"still being written by this (live) process")
    write_volume(make_volume(1), tmp_path / "a.nii.gz", overwrite=True)
    assert running.exists()


def make_inpaint_result(seed: int) -> SimpleNamespace:
    volume = make_volume(seed)
    mask = np.zeros(GRID.shape, dtype=np.uint8)
    mask[4:7, 4:7, 4:7] = 1
    provenance = make_provenance("inpaint", "b", "1", seed=seed, role="volume")
    return SimpleNamespace(array=volume.array, affine=volume.affine, lesion_mask=mask, provenance=provenance,
                           mask_provenance=dict(provenance, role="lesion_mask"))


def test_inpaint_outputs_make_four_commits_the_volume_last(tmp_path, monkeypatch):
    paths = InpaintOutputPaths.beside(tmp_path / "v.nii.gz")
    assert count_commits(monkeypatch, lambda: write_inpaint_outputs(make_inpaint_result(1), paths)) == 4


@pytest.mark.parametrize("n, when", [(n, when) for n in (1, 2, 3, 4) for when in ("before", "after")])
def test_inpaint_outputs_killed_at_any_commit_are_finished_by_a_rerun_without_overwrite(tmp_path, monkeypatch, n, when):
    out, disk = tmp_path / "out", tmp_path / "disk"
    out.mkdir()
    source = tmp_path / "source.nii.gz"
    kill_at_commit(monkeypatch, lambda: write_inpaint_outputs(make_inpaint_result(1), InpaintOutputPaths.beside(out / "v.nii.gz")),
                   n, when, out, disk)
    finished = n == 4 and when == "after"
    assert ("v.nii.gz" in visible(disk)) == finished
    paths = InpaintOutputPaths.beside(disk / "v.nii.gz")
    if finished:
        with pytest.raises(OutputExistsError):
            check_inpaint_outputs(paths, overwrite=False, sources=[source])
        return
    check_inpaint_outputs(paths, overwrite=False, sources=[source])
    write_inpaint_outputs(make_inpaint_result(1), paths)
    assert visible(disk) == ["v.json", "v.nii.gz", "v_lesion_mask.json", "v_lesion_mask.nii.gz"]
    assert np.asarray(nib.load(disk / "v_lesion_mask.nii.gz").dataobj).sum() == 27
