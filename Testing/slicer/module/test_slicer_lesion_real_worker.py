"""Lesion inpainting and export with the real engine: ``python -m braingen3d.worker`` on the shared tiny random
bundle, then the real export job (``braingen3d export``) on its result.

Each child process loads torch and MONAI, so this file makes three: one inpainting, one refused inpainting
and one export of every format. The tiny bundle's weights are random: the lesion is noise, which is all that
geometry, provenance and file formats need.
"""

from __future__ import annotations

import json
import sys

import lesion_phantoms as ph
import nibabel as nib
import numpy as np
import pydicom
import pytest

from BrainGen3DLib.export_logic import ExportLogic, ExportSettings
from BrainGen3DLib.lesion_logic import InpaintSettings, LesionInpaintLogic
from BrainGen3DLib.lesion_mask import LesionRegion, segment_mask
from BrainGen3DLib.process import RunStatus

pytestmark = pytest.mark.slow

WORKER = [sys.executable, "-m", "braingen3d.worker"]
PROMPT = "a 15 mm white-matter hyperintensity"
ROI_SIZE = (15.0, 12.0, 15.0)


def settings(bundle, **changes) -> InpaintSettings:
    return InpaintSettings(**{"prompt": PROMPT, "steps": 2, "seed": 5, "sampler": "ddim", "guidance_scale": 2.0,
                              "device": "cpu", "bundle_path": str(bundle), "blend_margin_mm": 2.0, **changes})


def test_real_worker_inpaints_an_oblique_scan_and_every_export_keeps_geometry_and_provenance(
        scene, tiny_bundle, work_root, tmp_path):
    from braingen3d.export import read_provenance

    source = ph.add_volume(scene, "oblique", name="FLAIR scan")
    before, source_matrix = ph.voxels(source), ph.volume_affine(source)
    axes = ph.rotation(10.0, -25.0)
    roi = ph.add_roi(scene, ph.LESION_SITE, ROI_SIZE, axes)
    region = ph.in_box(ph.world_points(ph.SHAPE, source_matrix), ph.LESION_SITE, ROI_SIZE, axes)
    logic = LesionInpaintLogic(scene=scene, worker_command=WORKER, use_timer=False, work_root=work_root)

    # One attempt: the random bundle's sample keeps the panel's seed whatever its contrast.
    logic.inpaint(source, LesionRegion(roi=roi), settings(tiny_bundle, attempts=1))
    outcome = logic.wait(300)

    assert outcome.status == RunStatus.SUCCEEDED, outcome.message + "\n" + "\n".join(outcome.log_tail)
    volume, segmentation = outcome.result.volume, outcome.result.segmentation
    assert np.array_equal(ph.voxels(source), before)
    np.testing.assert_allclose(ph.volume_affine(volume), source_matrix, atol=1e-4)
    assert np.array_equal(segment_mask(volume, segmentation, "White_matter_lesion"), region)
    # The engine regenerates the region and feathers a 2 mm margin; every voxel farther away is the source's.
    changed = ph.voxels(volume) != before
    distance_to_region = np.min(np.linalg.norm(
        ph.world_points(ph.SHAPE, source_matrix)[changed][:, None, :]
        - ph.world_points(ph.SHAPE, source_matrix)[region][None, :, :], axis=-1), axis=1)
    assert changed[region].any() and distance_to_region.max() <= 2.0 + 1e-6
    record = json.loads(volume.GetAttribute("BrainGen3D.provenance"))
    bundle_id = json.loads((tiny_bundle / "config.json").read_text())["bundle_id"]
    assert (record["task"], record["method"], record["bundle_id"], record["seed"]) == ("inpaint", "repaint", bundle_id, 5)
    assert record["mask_voxels"] == region.sum() and record["max_attempts"] == 1
    assert record["contrast_check"]["requested"] == "hyperintense" and len(record["contrast_check"]["attempts"]) == 1

    exports = ExportLogic(scene=scene, use_timer=False, work_root=work_root)
    folder = tmp_path / "exported"
    exports.export(volume, segmentation, ExportSettings(folder=str(folder), formats=["nifti", "nrrd", "dicom"],
                                                        modality="FLAIR"))
    result = exports.wait(300)
    assert result.status == RunStatus.SUCCEEDED, result.message + "\n" + "\n".join(result.log_tail)
    stem = "FLAIR_scan_lesion_seed_5"
    assert sorted(result.result) == sorted(str(p) for p in [
        folder / "nifti" / f"{stem}.nii.gz", folder / "nifti" / f"{stem}.json", folder / "nifti" / f"{stem}_label.nii.gz",
        folder / "nifti" / f"{stem}_label.json", folder / "nrrd" / f"{stem}.nrrd", folder / "nrrd" / f"{stem}.json",
        folder / "nrrd" / f"{stem}_label.seg.nrrd", folder / "dicom" / stem / "image",
        folder / "dicom" / stem / "segmentation.dcm"])

    # NIfTI: the voxels and grid of the scene's volume, the label where the lesion is.
    image = nib.load(folder / "nifti" / f"{stem}.nii.gz")
    np.testing.assert_allclose(image.affine, source_matrix, atol=1e-4)
    np.testing.assert_allclose(np.asanyarray(image.dataobj), ph.voxels(volume), rtol=1e-6)
    label = nib.load(folder / "nifti" / f"{stem}_label.nii.gz")
    assert np.array_equal(np.asanyarray(label.dataobj) == 1, region)
    # Every file carries the inpainting's provenance and says it is synthetic.
    for path in (f"nifti/{stem}.nii.gz", f"nifti/{stem}_label.nii.gz", f"nrrd/{stem}.nrrd",
                 f"nrrd/{stem}_label.seg.nrrd", f"dicom/{stem}/image", f"dicom/{stem}/segmentation.dcm"):
        exported = read_provenance(folder / path)
        assert exported["synthetic"] is True and exported["task"] == "inpaint", path
        assert exported["prompt"] == PROMPT and exported["seed"] == 5, path
    assert read_provenance(folder / "nrrd" / f"{stem}_label.seg.nrrd")["role"] == "lesion_mask"
    # The Slicer segmentation reads back in Slicer with the lesion segment where the box is.
    reread = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "reread")
    storage = scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    storage.SetFileName(str(folder / "nrrd" / f"{stem}_label.seg.nrrd"))
    reread.SetAndObserveStorageNodeID(storage.GetID())
    assert storage.ReadData(reread)
    segment_id = reread.GetSegmentation().GetNthSegmentID(0)
    assert reread.GetSegmentation().GetSegment(segment_id).GetName() == "White matter lesion"
    assert np.array_equal(segment_mask(volume, reread, segment_id), region)
    # DICOM: a synthetic MR series and a SEG.
    slices = sorted((folder / "dicom" / stem / "image").iterdir())
    assert len(slices) > 10
    first = pydicom.dcmread(slices[0])
    assert first.Modality == "MR" and first.SyntheticData == "YES" and "SYNTHETIC" in first.SeriesDescription
    seg = pydicom.dcmread(folder / "dicom" / stem / "segmentation.dcm")
    assert seg.Modality == "SEG" and seg.SyntheticData == "YES"
    assert seg.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0].CodeValue == "52988006"


def test_real_worker_refusal_is_shown_and_the_scene_is_untouched(scene, tiny_bundle, work_root, scene_snapshot):
    source = ph.add_volume(scene, "lps", name="scan")
    corner = ph.world_points(ph.SHAPE, ph.volume_affine(source))[2, 2, 2]
    roi = ph.add_roi(scene, corner, (9.0, 9.0, 9.0))
    before, voxels = scene_snapshot(scene), ph.voxels(source)
    logic = LesionInpaintLogic(scene=scene, worker_command=WORKER, use_timer=False, work_root=work_root)

    # One attempt: the random bundle's sample keeps the panel's seed whatever its contrast.
    logic.inpaint(source, LesionRegion(roi=roi), settings(tiny_bundle, attempts=1))
    outcome = logic.wait(300)

    assert outcome.status == RunStatus.FAILED and outcome.error_kind == "invalid_input"
    assert "outside the brain" in outcome.message and "scan_lesion_region.nii" in outcome.message
    assert scene_snapshot(scene) == before
    assert np.array_equal(ph.voxels(source), voxels)
    assert list(work_root.iterdir()) == []
