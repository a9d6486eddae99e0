"""LesionInpaintLogic against real MRML (slicer-core) with the stand-in worker's ``inpaint`` task.

The stand-in writes back the mask it received and brightens exactly those voxels, so the new nodes show
where the panel's mask landed; expectations are computed analytically in RAS (lesion_phantoms).
"""

from __future__ import annotations

import json
import time

import lesion_phantoms as ph
import numpy as np
import psutil
import pytest
import slicer
from bg3d_gui import write_fake_bundle

from BrainGen3DLib.lesion_import import LESION_REFERENCE_ROLE
from BrainGen3DLib.lesion_logic import InpaintSettings, LesionInpaintLogic
from BrainGen3DLib.lesion_mask import LesionRegion, RegionError, segment_mask
from BrainGen3DLib.logic import SettingsError
from BrainGen3DLib.process import ProcessState, RunStatus
from BrainGen3DLib.provenance import ProvenanceError, regeneration_settings
from BrainGen3DLib.scene_import import FOLDER_NAME

PROMPT = "a 15 mm white-matter hyperintensity"
ROI_SIZE = (16.0, 12.0, 14.0)


@pytest.fixture
def inpaint_bundle(tmp_path, monkeypatch):
    """A bundle card offering RePaint, used as the default bundle (the stand-in worker needs no weights)."""
    folder = write_fake_bundle(tmp_path / "bundle")
    monkeypatch.setenv("BRAINGEN3D_BUNDLE", str(folder))
    return folder


def make_logic(scene, command, work_root) -> LesionInpaintLogic:
    return LesionInpaintLogic(scene=scene, worker_command=command, use_timer=False, work_root=work_root)


def settings(**changes) -> InpaintSettings:
    return InpaintSettings(**{"prompt": PROMPT, "steps": 3, "seed": 11, "guidance_scale": 2.5, "sampler": "ddim",
                              "blend_margin_mm": 3.0, **changes})


def folder_of(scene, node) -> str:
    hierarchy = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    return hierarchy.GetItemName(hierarchy.GetItemParent(hierarchy.GetItemByDataNode(node)))


@pytest.mark.parametrize("orientation, dtype", [("oblique", np.float32), ("lps", np.int16)])
def test_roi_inpainting_adds_a_new_volume_and_lesion_segmentation(scene, standin_command, work_root, inpaint_bundle,
                                                                   orientation, dtype):
    source = ph.add_volume(scene, orientation, name="T2 scan", dtype=dtype)
    source.GetDisplayNode().SetAutoWindowLevel(False)
    source.GetDisplayNode().SetWindowLevel(321.0, 123.0)
    before, source_matrix = ph.voxels(source), ph.volume_affine(source)
    axes = ph.rotation(-15.0, 20.0)
    roi = ph.add_roi(scene, ph.LESION_SITE, ROI_SIZE, axes)
    logic = make_logic(scene, standin_command("ok"), work_root)
    events = []

    logic.inpaint(source, LesionRegion(roi=roi), settings(), on_event=events.append)
    outcome = logic.wait(120)

    assert outcome.status == RunStatus.SUCCEEDED, outcome.message
    volume, segmentation = outcome.result.volume, outcome.result.segmentation
    # The source is untouched.
    assert np.array_equal(ph.voxels(source), before)
    np.testing.assert_array_equal(ph.volume_affine(source), source_matrix)
    # The new volume is on the source's grid; exactly the voxels whose centres are in the box changed.
    np.testing.assert_allclose(ph.volume_affine(volume), source_matrix, atol=1e-4)
    expected = ph.in_box(ph.world_points(ph.SHAPE, source_matrix), ph.LESION_SITE, ROI_SIZE, axes)
    assert expected.sum() > 30
    changed = ph.voxels(volume) != before
    assert np.array_equal(changed, expected)
    assert volume.GetDisplayNode().GetWindow() == pytest.approx(321.0)
    assert volume.GetDisplayNode().GetLevel() == pytest.approx(123.0)

    # The lesion segmentation: one coded segment, on the new volume's grid, where the box is.
    assert segmentation.GetNodeReference(segmentation.GetReferenceImageGeometryReferenceRole()) is volume
    assert volume.GetNodeReference(LESION_REFERENCE_ROLE) is segmentation
    lesions = segmentation.GetSegmentation()
    assert lesions.GetNumberOfSegments() == 1
    segment = lesions.GetSegment("White_matter_lesion")
    from braingen3d.export.segments import LESION_SEGMENT

    assert segment.GetName() == "White matter lesion"
    assert segment.GetTerminology() == LESION_SEGMENT.slicer_terminology_entry()
    assert "SCT^52988006^Lesion" in segment.GetTerminology()
    assert np.allclose(segment.GetColor(), LESION_SEGMENT.color)
    assert np.array_equal(segment_mask(volume, segmentation, "White_matter_lesion"), expected)

    # Provenance, names, folder.
    assert volume.GetAttribute("BrainGen3D.Synthetic") == "yes"
    assert volume.GetAttribute("BrainGen3D.task") == "inpaint"
    assert volume.GetAttribute("BrainGen3D.role") == "volume"
    assert segmentation.GetAttribute("BrainGen3D.role") == "lesion_mask"
    record = json.loads(volume.GetAttribute("BrainGen3D.provenance"))
    assert (record["prompt"], record["seed"], record["steps"], record["sampler"]) == (PROMPT, 11, 3, "ddim")
    assert (record["guidance_scale"], record["blend_margin_mm"], record["method"]) == (2.5, 3.0, "repaint")
    assert record["source_volume"] == "T2_scan.nii" and record["mask_voxels"] == expected.sum()
    assert volume.GetName() == "T2 scan + lesion [seed 11]"
    assert segmentation.GetName() == "T2 scan + lesion [seed 11] mask"
    assert folder_of(scene, volume) == folder_of(scene, segmentation) == FOLDER_NAME
    assert [e["step"] for e in events if e["event"] == "progress"] == [1, 2, 3]
    assert list(work_root.iterdir()) == [], "the run folder is removed"
    with pytest.raises(ProvenanceError, match="made by inpaint"):
        regeneration_settings(volume)  # "Load its parameters" would generate, not inpaint


def test_files_slicer_saves_for_the_new_nodes_keep_their_provenance(scene, standin_command, work_root,
                                                                    inpaint_bundle, tmp_path):
    from BrainGen3DLib.storage_provenance import read_nrrd_provenance

    source = ph.add_volume(scene, "ras", name="scan")
    roi = ph.add_roi(scene, ph.LESION_SITE, ROI_SIZE)
    logic = make_logic(scene, standin_command("ok"), work_root)
    logic.inpaint(source, LesionRegion(roi=roi), settings())
    nodes = logic.wait(120).result
    for node, storage_class, name in ((nodes.volume, "vtkMRMLVolumeArchetypeStorageNode", "lesion.nrrd"),
                                      (nodes.segmentation, "vtkMRMLSegmentationStorageNode", "lesion.seg.nrrd")):
        storage = scene.AddNewNodeByClass(storage_class)
        storage.SetFileName(str(tmp_path / name))
        node.SetAndObserveStorageNodeID(storage.GetID())  # what Slicer's Save dialog does
        assert storage.WriteData(node)
        record = read_nrrd_provenance(tmp_path / name)
        assert record["task"] == "inpaint" and record["prompt"] == PROMPT, name
    assert read_nrrd_provenance(tmp_path / "lesion.seg.nrrd")["role"] == "lesion_mask"


def test_painted_segment_from_another_grid_becomes_the_lesion_region(scene, standin_command, work_root, inpaint_bundle):
    from BrainGen3DLib.provenance import node_provenance, set_provenance

    source = ph.add_volume(scene, "lps")
    generation = {"synthetic": True, "generator": "BrainGen3D", "task": "generate", "prompt": "FLAIR MRI", "seed": 4}
    set_provenance(source, generation)  # a generated brain: the lesion's record points back to it
    fine_shape, fine_spacing = (60, 60, 60), np.array([1.0, 1.0, 1.0])
    fine_affine = ph.grid_affine("ras", fine_shape, fine_spacing, centre=ph.LESION_SITE)
    seeds = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Lesion seeds")
    seed = seeds.GetSegmentation().AddEmptySegment("seed", "Lesion seed")
    ph.paint_sphere(seeds, seed, fine_shape, fine_affine, ph.LESION_SITE, 8.0)
    expected = segment_mask(source, seeds, seed)
    distance = np.linalg.norm(ph.world_points(ph.SHAPE, ph.volume_affine(source)) - ph.LESION_SITE, axis=-1)
    assert expected.sum() > 20 and distance[expected].max() < 8.0 + 1.0

    logic = make_logic(scene, standin_command("ok"), work_root)
    logic.inpaint(source, LesionRegion(segmentation=seeds, segment_id=seed), settings())
    outcome = logic.wait(120)

    assert outcome.status == RunStatus.SUCCEEDED, outcome.message
    assert np.array_equal(ph.voxels(outcome.result.volume) != ph.voxels(source), expected)
    assert np.array_equal(segment_mask(outcome.result.volume, outcome.result.segmentation, "White_matter_lesion"),
                          expected)
    for node in (outcome.result.volume, outcome.result.segmentation):
        assert node_provenance(node)["source_provenance"] == generation


def test_results_follow_the_source_parent_transform(scene, standin_command, work_root, inpaint_bundle):
    source = ph.add_volume(scene, "oblique")
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "registration")
    to_parent = np.eye(4)
    to_parent[:3, 3] = [12.0, -4.0, 6.0]
    transform.SetMatrixTransformToParent(ph.matrix(to_parent))
    source.SetAndObserveTransformNodeID(transform.GetID())
    roi = ph.add_roi(scene, ph.LESION_SITE + to_parent[:3, 3], ROI_SIZE)  # the site, where the scan is shown
    logic = make_logic(scene, standin_command("ok"), work_root)
    logic.inpaint(source, LesionRegion(roi=roi), settings())
    outcome = logic.wait(120)
    assert outcome.status == RunStatus.SUCCEEDED, outcome.message
    for node in (outcome.result.volume, outcome.result.segmentation):
        assert node.GetTransformNodeID() == transform.GetID()
    changed = ph.voxels(outcome.result.volume) != ph.voxels(source)
    local = ph.world_points(ph.SHAPE, ph.volume_affine(source))
    assert np.array_equal(changed, ph.in_box(local, ph.LESION_SITE, ROI_SIZE))


def _nan_volume(scene):
    data = ph.phantom(ph.SHAPE, ph.grid_affine("oblique"))
    data[3, 4, 5] = np.nan
    return ph.add_volume(scene, "oblique", name="broken scan", data=data)


def _constant_volume(scene):
    return ph.add_volume(scene, "oblique", name="blank", data=np.full(ph.SHAPE, 7.0, np.float32))


@pytest.mark.parametrize(
    "case, mode, words",
    [
        ("nan", "ok", ["broken_scan.nii contains 1 NaN"]),
        ("constant", "ok", ["is constant"]),
        ("outside brain", "ok", ["lies outside the brain", "inside the brain"]),
        ("half the brain", "ok", ["more than half of the brain"]),
        ("ok", "no_inpaint", ["does not support inpainting", "'repaint' or 'inpaint_unet'"]),
        ("ok", "internal", ["simulated internal failure"]),
        ("ok", "outside", ["outside its output folder"]),
    ],
)
def test_failures_show_a_clear_error_and_leave_the_scene_untouched(scene, standin_command, work_root, inpaint_bundle,
                                                                  scene_snapshot, case, mode, words):
    source = {"nan": _nan_volume, "constant": _constant_volume}.get(case, lambda s: ph.add_volume(s, "oblique"))(scene)
    if case == "outside brain":  # inside the grid, in the corner outside the head
        corner = ph.world_points(ph.SHAPE, ph.volume_affine(source))[3, 3, 3]
        roi = ph.add_roi(scene, corner, (8.0, 8.0, 8.0))
    elif case == "half the brain":
        roi = ph.add_roi(scene, ph.BRAIN_CENTRE, 1.5 * ph.BRAIN_SEMI_AXES)  # 80 % of the brain
    else:
        roi = ph.add_roi(scene, ph.LESION_SITE, ROI_SIZE)
    before_nodes, before_voxels = scene_snapshot(scene), ph.voxels(source)
    logic = make_logic(scene, standin_command(mode), work_root)
    outcomes = []

    logic.inpaint(source, LesionRegion(roi=roi), settings(), on_finished=outcomes.append)
    outcome = logic.wait(120)

    assert outcomes == [outcome] and outcome.status == RunStatus.FAILED
    for word in words:
        assert word in outcome.message
    assert scene_snapshot(scene) == before_nodes
    assert np.array_equal(ph.voxels(source), before_voxels, equal_nan=True)
    assert [p.name for p in work_root.iterdir() if p.name.startswith("inpaint-")] == []
    assert logic.state == ProcessState.IDLE


def test_unusable_input_is_refused_before_any_process_starts(scene, standin_command, work_root, inpaint_bundle,
                                                             tmp_path, scene_snapshot):
    source = ph.add_volume(scene, "ras", name="scan")
    roi = ph.add_roi(scene, ph.LESION_SITE, ROI_SIZE)
    far = ph.add_roi(scene, ph.BRAIN_CENTRE + [400.0, 0.0, 0.0], ROI_SIZE, name="far")
    labels = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "labels")
    no_inpaint = write_fake_bundle(tmp_path / "no-inpaint")
    config = json.loads((no_inpaint / "config.json").read_text())
    config["capabilities"]["inpaint"] = []
    (no_inpaint / "config.json").write_text(json.dumps(config))
    before = scene_snapshot(scene)
    logic = make_logic(scene, standin_command("ok"), work_root)
    cases = [
        (source, LesionRegion(roi=far), settings(), RegionError, "ROI 'far' covers no voxel of 'scan'"),
        (source, LesionRegion(roi=roi), settings(prompt="  "), SettingsError, "lesion prompt is empty"),
        (source, LesionRegion(roi=roi), settings(bundle_path=str(no_inpaint)), SettingsError, "cannot inpaint"),
        (source, LesionRegion(roi=roi), settings(method="inpaint_unet"), SettingsError, "does not offer the method"),
        (source, LesionRegion(roi=roi), settings(blend_margin_mm=25.0), SettingsError, "blend margin"),
        (labels, LesionRegion(roi=roi), settings(), SettingsError, "not a label map"),
        (None, LesionRegion(roi=roi), settings(), SettingsError, "Choose the volume"),
    ]
    for volume, region, chosen, error, words in cases:
        with pytest.raises(error, match=words):
            logic.inpaint(volume, region, chosen)
        assert logic.state == ProcessState.IDLE
    assert list(work_root.iterdir()) == []
    assert scene_snapshot(scene) == before


def test_cancel_kills_the_worker_tree_and_adds_nothing(scene, standin_command, work_root, inpaint_bundle,
                                                       scene_snapshot):
    source = ph.add_volume(scene, "oblique")
    roi = ph.add_roi(scene, ph.LESION_SITE, ROI_SIZE)
    before = scene_snapshot(scene)
    logic = make_logic(scene, standin_command("slow", step_seconds=5), work_root)
    events = []
    logic.inpaint(source, LesionRegion(roi=roi), settings(steps=40), on_event=events.append)
    deadline = time.monotonic() + 20
    while not any("grandchild" in e.get("message", "") for e in events):
        logic.poll()
        assert time.monotonic() < deadline, "the stand-in worker never started"
        time.sleep(0.02)
    pids = [next(e["pid"] for e in events if e["event"] == "started"),
            int(next(e["message"] for e in events if "grandchild" in e.get("message", "")).split()[1])]

    started = time.monotonic()
    logic.cancel()

    assert time.monotonic() - started < 2.0
    assert logic.state == ProcessState.IDLE and logic.runner.last_outcome.status == RunStatus.CANCELLED
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert scene_snapshot(scene) == before
    assert list(work_root.iterdir()) == []


def test_a_source_removed_during_the_run_gets_no_result(scene, standin_command, work_root, inpaint_bundle,
                                                        scene_snapshot):
    source = ph.add_volume(scene, "ras", name="scan")
    roi = ph.add_roi(scene, ph.LESION_SITE, ROI_SIZE)
    logic = make_logic(scene, standin_command("ok", step_seconds=0.3), work_root)
    logic.inpaint(source, LesionRegion(roi=roi), settings(steps=2))
    scene.RemoveNode(source)
    before = scene_snapshot(scene)
    outcome = logic.wait(120)
    assert outcome.status == RunStatus.FAILED and "'scan' was removed from the scene" in outcome.message
    assert scene_snapshot(scene) == before
