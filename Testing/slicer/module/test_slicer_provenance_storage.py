"""Provenance survives Slicer's own saving: node attributes in the scene file, keys in NRRD/NIfTI files."""

from __future__ import annotations

import json

import nibabel as nib
import nrrd
import numpy as np
import pytest
import slicer
import vtk

from BrainGen3DLib.provenance import RECORD_ATTRIBUTE, node_provenance, regeneration_settings, set_provenance
from BrainGen3DLib.storage_provenance import (
    ProvenanceFileKeeper,
    read_nrrd_provenance,
    sidecar_path,
    stamp_nrrd,
)

PROVENANCE = {
    "synthetic": True, "generator": "BrainGen3D", "engine_version": "0.1.0", "task": "generate",
    "prompt": "T1-weighted brain MRI, \"quoted\" & <tagged>\nsecond line", "negative_prompt": "blur",
    "seed": 1234, "steps": 20, "guidance_scale": 3.5, "sampler": "dpm++", "bundle_id": "braingen3d-small",
    "bundle_version": "1.0", "device": "cpu", "created": "2026-01-01T00:00:00+00:00", "index": 0,
}


def generated_volume(scene):
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "generated")
    data = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    slicer.util.updateVolumeFromArray(node, data)
    matrix = vtk.vtkMatrix4x4()
    for row, values in enumerate([[0, -2, 0, 10], [1.5, 0, 0, -4], [0, 0, 3, 2.5]]):
        for column, value in enumerate(values):
            matrix.SetElement(row, column, value)
    node.SetIJKToRASMatrix(matrix)
    set_provenance(node, PROVENANCE, bundle_path="/bundles/small", requested_device="cpu")
    return node, data


def write_with_slicer(scene, node, path):
    """What Slicer's Save dialog does: a volume archetype storage node writes the file."""
    storage = node.GetStorageNode()
    if storage is None:
        storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
        node.SetAndObserveStorageNodeID(storage.GetID())
    storage.SetFileName(str(path))
    assert storage.WriteData(node)
    return storage


def test_slicer_alone_writes_no_attributes_into_nrrd(scene, tmp_path):
    """The measured fact behind ProvenanceFileKeeper: attributes do not reach the NRRD header by themselves."""
    node, _ = generated_volume(scene)
    write_with_slicer(scene, node, tmp_path / "plain.nrrd")
    header = nrrd.read_header(str(tmp_path / "plain.nrrd"))
    assert not [key for key in header if "braingen3d" in key.lower() or "BrainGen3D" in str(header[key])]


def test_keeper_stamps_nrrd_written_by_slicer_and_data_round_trips(scene, tmp_path):
    node, data = generated_volume(scene)
    keeper = ProvenanceFileKeeper()
    keeper.watch(node)
    path = tmp_path / "saved.nrrd"
    write_with_slicer(scene, node, path)

    header = nrrd.read_header(str(path))
    assert header["braingen3d_synthetic"] == "YES"
    assert json.loads(header["braingen3d_provenance"]) == PROVENANCE
    assert read_nrrd_provenance(path) == PROVENANCE

    # Slicer reads the stamped file back with identical voxels and geometry.
    reloaded = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "reloaded")
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storage.SetFileName(str(path))
    reloaded.SetAndObserveStorageNodeID(storage.GetID())
    assert storage.ReadData(reloaded)
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(reloaded), data)
    original, again = vtk.vtkMatrix4x4(), vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(original)
    reloaded.GetIJKToRASMatrix(again)
    assert all(abs(original.GetElement(r, c) - again.GetElement(r, c)) < 1e-6 for r in range(4) for c in range(4))

    # Saving again (same storage node) stamps the new file too, with one copy of each key.
    write_with_slicer(scene, node, path)
    text = path.read_bytes().split(b"\n\n", 1)[0].decode("ascii")
    assert text.count("braingen3d_provenance:=") == 1
    keeper.forget_all()


def test_keeper_picks_up_a_storage_node_added_later_and_stamps_nifti(scene, tmp_path):
    node, data = generated_volume(scene)
    keeper = ProvenanceFileKeeper()
    keeper.watch(node)  # no storage node yet, as for a freshly generated volume
    path = tmp_path / "saved.nii.gz"
    write_with_slicer(scene, node, path)

    image = nib.load(str(path))
    assert image.header["descrip"].tobytes().startswith(b"SYNTHETIC BrainGen3D braingen3d-small seed=1234")
    extensions = [json.loads(e.get_content()) for e in image.header.extensions]
    assert PROVENANCE in extensions
    assert json.loads(sidecar_path(path).read_text()) == PROVENANCE
    np.testing.assert_array_equal(np.asarray(image.dataobj).transpose(2, 1, 0), data)
    ras = np.array([[0, -2, 0, 10], [1.5, 0, 0, -4], [0, 0, 3, 2.5], [0, 0, 0, 1]])
    np.testing.assert_allclose(image.affine, ras, atol=1e-5)
    keeper.forget_all()


def test_attributes_survive_a_scene_save_and_reload(scene, tmp_path):
    node, _ = generated_volume(scene)
    write_with_slicer(scene, node, tmp_path / "volume.nrrd")
    scene.SetURL(str(tmp_path / "scene.mrml"))
    scene.SetRootDirectory(str(tmp_path))
    scene.Commit()

    reloaded_scene = slicer.vtkMRMLScene()
    reloaded_scene.SetURL(str(tmp_path / "scene.mrml"))
    reloaded_scene.Import()
    reloaded = reloaded_scene.GetFirstNodeByName("generated")
    assert node_provenance(reloaded) == PROVENANCE
    assert reloaded.GetAttribute("BrainGen3D.prompt") == PROVENANCE["prompt"]
    settings = regeneration_settings(reloaded)
    assert settings["seed"] == 1234 and settings["bundle_path"] == "/bundles/small" and settings["device"] == "cpu"


def test_individual_attributes_are_enough_without_the_json_record(scene):
    node, _ = generated_volume(scene)
    node.RemoveAttribute(RECORD_ATTRIBUTE)
    record = node_provenance(node)
    assert record["seed"] == 1234 and record["guidance_scale"] == 3.5 and record["prompt"] == PROVENANCE["prompt"]
    assert record["synthetic"] is True


def test_stamp_nrrd_refuses_a_file_that_is_not_nrrd(tmp_path):
    path = tmp_path / "fake.nrrd"
    path.write_bytes(b"not a nrrd\n\n\x00\x01")
    with pytest.raises(ValueError, match="not a NRRD"):
        stamp_nrrd(path, PROVENANCE)
    assert path.read_bytes() == b"not a nrrd\n\n\x00\x01"
