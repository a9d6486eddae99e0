"""Every bad input is refused with a message naming the problem and the fix, before any model work."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from braingen3d.bundle import preset_config, read_config
from braingen3d.core.errors import BrainGenError, BundleError, InvalidInputError
from braingen3d.io.source import SourceImage, read_source
from braingen3d.pipelines.inpaint import InpaintUnsupportedError, MaskError, prepare_inputs, resolve_method
from braingen3d.requests.inpaint import InpaintRequest
from Testing.inpaint.inpaint_phantoms import make_case, save_nifti


def volume_of(case) -> SourceImage:
    return SourceImage(case.volume, case.affine)


def test_empty_mask():
    case = make_case()
    with pytest.raises(MaskError, match="empty"):
        prepare_inputs(volume_of(case), np.zeros_like(case.mask))


def test_mask_outside_the_brain():
    case = make_case()
    corner = np.zeros_like(case.mask)
    corner[:3, :3, :3] = 1  # background corner of the field of view
    with pytest.raises(MaskError, match="outside the brain"):
        prepare_inputs(volume_of(case), corner)


def test_mask_covering_more_than_half_the_brain():
    case = make_case()
    with pytest.raises(MaskError, match="more than half"):
        prepare_inputs(volume_of(case), (case.volume > 0).astype(np.uint8))


@pytest.mark.parametrize("value, message", [(np.nan, "NaN"), (np.inf, "NaN or infinite")])
def test_non_finite_volume(value, message):
    case = make_case(dtype=np.float32)
    case.volume[3, 4, 5] = value
    with pytest.raises(InvalidInputError, match=message):
        prepare_inputs(volume_of(case), case.mask)


def test_constant_volume():
    case = make_case()
    with pytest.raises(InvalidInputError, match="constant"):
        prepare_inputs(SourceImage(np.full_like(case.volume, 7), case.affine), case.mask)


def test_probability_map_is_refused_and_label_map_is_accepted_with_a_warning(caplog):
    case = make_case()
    probability = case.mask * 0.8
    with pytest.raises(MaskError, match="probability map"):
        prepare_inputs(volume_of(case), probability)
    labels = case.mask.astype(np.int16) * 2
    labels[np.nonzero(case.mask)[0][0], np.nonzero(case.mask)[1][0], np.nonzero(case.mask)[2][0]] = 1
    with caplog.at_level(logging.WARNING, logger="braingen3d"):
        inputs = prepare_inputs(volume_of(case), labels)
    assert np.array_equal(inputs.mask, case.mask.astype(bool))
    assert "labels 1, 2" in caplog.text
    float_binary = prepare_inputs(volume_of(case), case.mask.astype(np.float64))  # 0.0/1.0 floats are binary
    assert np.array_equal(float_binary.mask, case.mask.astype(bool))


def test_mask_on_another_grid_is_refused_unless_resampling_is_asked_for(tmp_path):
    case = make_case("ras")
    # The same lesion drawn on a finer, LPS grid.
    fine = make_case("lps", shape=(64, 88, 52), spacing=np.array([2.5, 2.0, 3.0]))
    volume = read_source(save_nifti(tmp_path / "v.nii.gz", case.volume, case.affine))
    mask = read_source(save_nifti(tmp_path / "m.nii.gz", fine.mask, fine.affine), "mask")
    with pytest.raises(MaskError, match="--resample-mask") as caught:
        prepare_inputs(volume, mask)
    assert "shape (64, 88, 52)" in str(caught.value) and "(32, 44, 26)" in str(caught.value)
    inputs = prepare_inputs(volume, mask, resample_mask=True)
    overlap = np.count_nonzero(inputs.mask & case.mask.astype(bool)) / np.count_nonzero(case.mask | inputs.mask)
    assert overlap > 0.7  # nearest-neighbour resampling of the same sphere lands on the same voxels


def test_shifted_affine_with_the_same_shape_is_a_different_grid(tmp_path):
    case = make_case()
    shifted = case.affine.copy()
    shifted[:3, 3] += [0.0, 0.0, 3.0]
    with pytest.raises(MaskError, match="voxel centres move by up to 3 mm"):
        prepare_inputs(volume_of(case), SourceImage(case.mask, shifted))


def test_mask_that_does_not_overlap_the_volume():
    case = make_case()
    far = case.affine.copy()
    far[:3, 3] += [500.0, 0.0, 0.0]
    with pytest.raises(MaskError, match="does not overlap"):
        prepare_inputs(volume_of(case), SourceImage(case.mask, far), resample_mask=True)


def test_unreadable_and_missing_files(tmp_path):
    with pytest.raises(InvalidInputError, match="does not exist"):
        read_source(tmp_path / "missing.nii.gz")
    (tmp_path / "junk.nii.gz").write_bytes(b"not a nifti")
    with pytest.raises(InvalidInputError, match="not a readable NIfTI"):
        read_source(tmp_path / "junk.nii.gz")
    (tmp_path / "volume.png").write_bytes(b"")
    with pytest.raises(InvalidInputError, match="unsupported type"):
        read_source(tmp_path / "volume.png")


def test_bundle_without_inpainting_and_unsupported_methods(no_inpaint_bundle, tiny_bundle):
    with pytest.raises(InpaintUnsupportedError, match="does not support inpainting") as caught:
        resolve_method(read_config(no_inpaint_bundle), "auto")
    assert caught.value.kind == "invalid_input"
    repaint_only = read_config(tiny_bundle)
    assert resolve_method(repaint_only, "auto") == "repaint"
    with pytest.raises(InpaintUnsupportedError, match="offers \\['repaint'\\]"):
        resolve_method(repaint_only, "inpaint_unet")
    with pytest.raises(InpaintUnsupportedError, match="Unknown inpainting method"):
        resolve_method(repaint_only, "magic")


def test_auto_prefers_the_trained_inpainting_unet(unet_bundle):
    assert resolve_method(read_config(unet_bundle), "auto") == "inpaint_unet"


def test_inpaint_unet_with_the_wrong_input_channels_is_a_bundle_error():
    config = preset_config("tiny", capabilities={"text": True, "inpaint": ["inpaint_unet"], "controlnet": False})
    config.inpaint_unet = dict(config.unet)  # in_channels = latent_channels: no room for mask and masked latent
    with pytest.raises(BundleError, match="inpaint_unet.in_channels"):
        InpaintRequest("a lesion", method="inpaint_unet").resolve(config)


@pytest.mark.parametrize("kwargs, message", [
    ({"prompt": "  "}, "prompt is empty"),
    ({"blend_margin_mm": -1.0}, "blend margin"),
    ({"blend_margin_mm": 50.0}, "blend margin"),
    ({"steps": 0}, "steps"),
    ({"sampler": "heun"}, "Unknown sampler"),
])
def test_bad_parameters(tiny_bundle, kwargs, message):
    arguments = {"prompt": "a 15 mm white-matter hyperintensity", **kwargs}
    with pytest.raises(InvalidInputError, match=message):
        InpaintRequest(**arguments).resolve(read_config(tiny_bundle))


def test_every_refusal_is_a_braingen_error_of_kind_invalid_input():
    for error in (MaskError("x"), InpaintUnsupportedError("x")):
        assert isinstance(error, BrainGenError) and error.kind == "invalid_input"


def test_the_command_refuses_bad_files_before_importing_torch(tmp_path):
    """Checking the inputs needs no network: the CLI answers a bad mask without paying the engine's import."""
    import subprocess
    import sys

    case = make_case()
    volume, mask = tmp_path / "volume.nii.gz", tmp_path / "mask.nii.gz"
    save_nifti(volume, case.volume, case.affine)
    save_nifti(mask, np.zeros_like(case.mask), case.affine)
    code = ("import sys; from braingen3d.cli.main import main\n"
            f"code = main(['inpaint', {str(volume)!r}, {str(mask)!r}, 'a lesion', '-o', {str(tmp_path / 'out.nii.gz')!r}])\n"
            "print(code, sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'monai', 'transformers'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip().splitlines()[-1] == "2 []", (result.stdout, result.stderr)
    assert "empty" in result.stderr
    assert not (tmp_path / "out.nii.gz").exists()
