"""Volume files: RAS geometry, provenance in headers, atomic writes."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from braingen3d.core.errors import OutputExistsError
from braingen3d.core.geometry import DEFAULT_GRID
from braingen3d.core.provenance import make_provenance
from braingen3d.core.volume import SyntheticVolume
from braingen3d.export.provenance_reader import read_provenance
from braingen3d.io import read_volume, write_volume


@pytest.fixture()
def volume() -> SyntheticVolume:
    rng = np.random.default_rng(0)
    array = rng.random(DEFAULT_GRID.shape).astype(np.float32)
    return SyntheticVolume(array, DEFAULT_GRID.affine.copy(), make_provenance("generate", "b", "1", seed=3, prompt="T1"))


def test_default_grid_is_mni_aligned_2mm_and_covers_the_brain():
    affine = DEFAULT_GRID.affine
    assert DEFAULT_GRID.spacing == (2.0, 2.0, 2.0)
    corner_low = affine @ [0, 0, 0, 1]
    corner_high = affine @ [*(np.array(DEFAULT_GRID.shape) - 1), 1]
    # The MNI152 brain spans about x -70..70, y -104..70, z -48..80 mm.
    assert corner_low[0] < -70 and corner_high[0] > 70
    assert corner_low[1] < -104 and corner_high[1] > 70
    assert corner_low[2] < -48 and corner_high[2] > 80


@pytest.mark.parametrize("name", ["v.nii.gz", "v.nii", "v.nrrd"])
def test_round_trip_keeps_geometry_and_values(volume, tmp_path, name):
    write_volume(volume, tmp_path / name, preview=False)
    array, affine = read_volume(tmp_path / name)
    assert np.array_equal(array, volume.array)
    assert np.allclose(affine, volume.affine)


@pytest.mark.parametrize("name", ["v.nii.gz", "v.nrrd"])
def test_simpleitk_sees_the_same_physical_positions(volume, tmp_path, name):
    write_volume(volume, tmp_path / name, preview=False)
    image = sitk.ReadImage(str(tmp_path / name))
    index = (5, 17, 31)
    lps = np.array(image.TransformIndexToPhysicalPoint(index))
    ras = (volume.affine @ [*index, 1])[:3]
    assert np.allclose(lps * [-1, -1, 1], ras)
    assert sitk.GetArrayFromImage(image)[index[2], index[1], index[0]] == volume.array[index]


def test_nifti_header_marks_synthetic_and_holds_provenance(volume, tmp_path):
    write_volume(volume, tmp_path / "v.nii.gz", preview=False)
    header = nib.load(tmp_path / "v.nii.gz").header
    assert header["descrip"].tobytes().startswith(b"SYNTHETIC BrainGen3D")
    assert int(header["sform_code"]) == 4 and int(header["qform_code"]) == 4
    (tmp_path / "v.json").unlink()
    assert read_provenance(tmp_path / "v.nii.gz")["seed"] == 3


def test_sidecar_json_has_full_provenance(volume, tmp_path):
    write_volume(volume, tmp_path / "v.nrrd", preview=False)
    sidecar = json.loads((tmp_path / "v.json").read_text())
    assert sidecar == volume.provenance


def test_failed_write_leaves_no_partial_files(volume, tmp_path, monkeypatch):
    from braingen3d.io import atomic

    class FullDisk:
        def __init__(self, path):
            self.handle = open(path, "xb")

        def write(self, data):
            self.handle.write(data[:100])
            raise OSError(28, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    real_open = atomic._open_temporary
    monkeypatch.setattr(atomic, "_open_temporary",
                        lambda path: FullDisk(path) if ".nii.gz" in path.name else real_open(path))
    with pytest.raises(OSError, match="No space"):
        write_volume(volume, tmp_path / "v.nii.gz")
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_not_touched_without_overwrite(volume, tmp_path):
    (tmp_path / "v.json").write_text("mine")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        write_volume(volume, tmp_path / "v.nii.gz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.json"]
    assert (tmp_path / "v.json").read_text() == "mine"


def test_preview_png_has_three_planes(volume, tmp_path):
    from PIL import Image

    write_volume(volume, tmp_path / "v.nii.gz")
    png = Image.open(tmp_path / "v.png")
    # 80 + 80 + 96 mm wide at 1 mm per pixel, plus gaps.
    assert png.width >= 2 * (80 * 2) + 96 * 2
