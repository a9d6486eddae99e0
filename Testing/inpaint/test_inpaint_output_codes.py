"""Inpainting keeps the input's own NIfTI sform and qform codes, and refuses an image output it cannot write."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from braingen3d.cli.main import main
from Testing.inpaint.inpaint_phantoms import make_case


def save_with_codes(path, array, affine, sform_code: int, qform_code: int):
    image = nib.Nifti1Image(array, affine)
    image.set_sform(affine, code=sform_code)
    image.set_qform(affine, code=qform_code)
    nib.save(image, str(path))
    return path


@pytest.mark.parametrize("sform_code, qform_code", [(2, 0), (0, 1), (3, 2), (0, 0)])
def test_inpainting_keeps_the_input_sform_and_qform_codes(tiny_bundle, tmp_path, capsys, sform_code, qform_code):
    case = make_case("ras", dtype=np.int16)
    volume = save_with_codes(tmp_path / "volume.nii.gz", case.volume, case.affine, sform_code, qform_code)
    mask = save_with_codes(tmp_path / "mask.nii.gz", case.mask, case.affine, sform_code, qform_code)
    out = tmp_path / "out.nii.gz"
    code = main(["-q", "inpaint", str(volume), str(mask), "a 15 mm white-matter lesion", "-o", str(out), "--bundle",
                 str(tiny_bundle), "--seed", "1", "--steps", "2", "--resample-rounds", "0", "--attempts", "1",
                 "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    # Neither code set: the outputs say scanner space (1) for both, since their affine is meaningful.
    expected = (sform_code, qform_code) if sform_code or qform_code else (1, 1)
    for written in (out, tmp_path / "out_lesion_mask.nii.gz"):
        header = nib.load(written).header
        assert (int(header["sform_code"]), int(header["qform_code"])) == expected
        np.testing.assert_allclose(nib.load(written).affine, nib.load(volume).affine, atol=1e-4)


def test_inpaint_refuses_a_seg_nrrd_volume_output(tiny_bundle, case_files, tmp_path, capsys):
    volume, mask, _ = case_files(make_case("ras"))
    code = main(["-q", "inpaint", str(volume), str(mask), "a lesion", "-o", str(tmp_path / "o.seg.nrrd"),
                 "--bundle", str(tiny_bundle)])
    assert code == 2 and ".seg.nrrd holds a Slicer segmentation" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mask.nii.gz", "volume.nii.gz"]
