"""``braingen3d batch`` output: a valid nnU-Net v2 raw dataset, lesion labels from inpainting, full provenance."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from braingen3d.core.intensity import foreground_mask
from Testing.batch.batch_helpers import batch_args, read_json, run_cli

pytestmark = pytest.mark.slow


def test_nnunet_accepts_the_dataset(batch_dataset):
    from nnunetv2.experiment_planning.verify_dataset_integrity import verify_dataset_integrity

    verify_dataset_integrity(str(batch_dataset), num_processes=1)
    meta = read_json(batch_dataset / "dataset.json")
    assert meta["channel_names"] == {"0": "FLAIR"}
    assert meta["labels"] == {"background": 0, "lesion": 1}
    assert meta["numTraining"] == 4 and meta["file_ending"] == ".nii.gz" and meta["synthetic"] is True
    assert sorted(p.name for p in (batch_dataset / "imagesTr").iterdir()) == [f"synth_{k:04d}_0000.nii.gz" for k in range(4)]
    assert sorted(p.name for p in (batch_dataset / "labelsTr").iterdir()) == [f"synth_{k:04d}.nii.gz" for k in range(4)]
    assert not list(batch_dataset.rglob("*.partial"))


def test_labels_are_the_inpainted_lesions(batch_dataset, tiny_bundle, tmp_path):
    code, out, _ = run_cli(batch_args(tiny_bundle, tmp_path, 4, 501, "SynthTest", "--dry-run"))
    assert code == 0
    plan = {c["case_id"]: c for c in map(json.loads, out.splitlines())}
    counts = {case_id: len(c["lesion_diameters_mm"]) for case_id, c in plan.items()}
    assert 0 in counts.values() and any(n > 0 for n in counts.values()), "the fixture must hold both kinds of case"
    for case_id, planned in counts.items():
        label_image = nib.load(batch_dataset / "labelsTr" / f"{case_id}.nii.gz")
        image = nib.load(batch_dataset / "imagesTr" / f"{case_id}_0000.nii.gz")
        label = np.asarray(label_image.dataobj)
        record = read_json(batch_dataset / "provenance" / f"{case_id}.json")
        assert label.dtype == np.uint8 and np.allclose(label_image.affine, image.affine)
        assert label.shape == image.shape == (16, 16, 16)
        lesions = record["lesions"]
        if planned == 0:
            assert not label.any(), "a lesion-free case has an all-zero label"
            assert record["inpaint"] is None and lesions["count"] == 0
            continue
        assert set(np.unique(label)) == {0, 1}
        assert lesions["count"] == planned and lesions["label_voxels"] == int(label.sum())
        assert record["inpaint"]["prompt"] == plan[case_id]["lesion_prompt"]
        assert record["inpaint"]["mask_voxels"] == int(label.sum())
        # Every lesion voxel lies inside the brain of the written image, and each placed lesion is in the label.
        assert not np.any(label.astype(bool) & ~foreground_mask(np.asarray(image.dataobj)))
        for lesion in lesions["placed"]:
            centre = np.linalg.inv(image.affine) @ np.array([*lesion["centre_ras_mm"], 1.0])
            assert label[tuple(np.rint(centre[:3]).astype(int))] == 1
        # SimpleITK reads the same label on the same grid.
        sitk_label = sitk.ReadImage(str(batch_dataset / "labelsTr" / f"{case_id}.nii.gz"))
        assert np.array_equal(sitk.GetArrayFromImage(sitk_label).transpose(2, 1, 0), label)


def test_each_case_records_its_full_provenance(batch_dataset, tiny_bundle, tmp_path):
    code, out, _ = run_cli(batch_args(tiny_bundle, tmp_path, 4, 501, "SynthTest", "--dry-run"))
    plan = [json.loads(line) for line in out.splitlines()]
    for case in plan:
        code, printed, err = run_cli(["provenance", str(batch_dataset / "imagesTr" / f"{case['case_id']}_0000.nii.gz")])
        assert code == 0, err
        record = json.loads(printed)
        assert record["synthetic"] is True and record["generator"] == "BrainGen3D"
        assert record["prompt"] == case["prompt"] and record["seed"] == case["seed"]
        assert record["attributes"] == case["attributes"] and record["description"] == case["description"]
        assert record["lesions"]["requested_diameters_mm"] == case["lesion_diameters_mm"]
        assert (record["bundle_id"], record["bundle_version"]) == ("random-tiny", "0.0.0")
        assert record["batch"]["case_digest"] == case["digest"]
        assert record["batch"]["source"]["template"].startswith("{modality} MRI")
        assert record["steps"] == 2 and record["modality"] == "FLAIR"
        label_record = json.loads(run_cli(["provenance", str(batch_dataset / "labelsTr" / f"{case['case_id']}.nii.gz")])[1])
        assert label_record["case_id"] == case["case_id"]
    # The header itself says synthetic, for tools that never read sidecars.
    descrip = nib.load(batch_dataset / "imagesTr" / "synth_0000_0000.nii.gz").header["descrip"].tobytes()
    assert descrip.startswith(b"SYNTHETIC")
