"""GenerationLogic against real MRML (slicer-core) with the stand-in worker process."""

from __future__ import annotations

import time

import bg3d_standin_worker as standin
import nibabel as nib
import numpy as np
import psutil
import pytest
import slicer
import vtk

from BrainGen3DLib.logic import GenerationLogic, GenerationSettings, SettingsError
from BrainGen3DLib.process import ProcessState, RunStatus
from BrainGen3DLib.provenance import SYNTHETIC_ATTRIBUTE, node_provenance, regeneration_settings
from BrainGen3DLib.scene_import import FOLDER_NAME


def make_logic(scene, command, work_root):
    return GenerationLogic(scene=scene, worker_command=command, use_timer=False, work_root=work_root)


def ijk_to_ras(node) -> np.ndarray:
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def test_generate_imports_every_volume_with_geometry_and_provenance(scene, standin_command, work_root):
    logic = make_logic(scene, standin_command("ok"), work_root)
    events, finished = [], []
    settings = GenerationSettings(prompt="T1-weighted brain MRI of a 70-year-old male", negative_prompt="noise",
                                  steps=3, guidance_scale=4.5, sampler="ddim", seed=7, num_volumes=2)
    logic.generate(settings, on_event=events.append, on_finished=finished.append)
    assert logic.state == ProcessState.RUNNING
    outcome = logic.wait(120)

    assert outcome.status == RunStatus.SUCCEEDED, outcome.message
    assert finished == [outcome]
    progress = [(e["volume"], e["step"]) for e in events if e["event"] == "progress"]
    assert progress == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]
    # stderr lines come through their own pipe and reader thread, so they may overtake stdout's events;
    # the protocol (stdout) must start with "started".
    protocol = [e for e in events if e.get("source") != "stderr"]
    assert protocol[0]["event"] == "started", events[:3]

    nodes = outcome.result
    assert [n.GetClassName() for n in nodes] == ["vtkMRMLScalarVolumeNode"] * 2
    for index, node in enumerate(nodes):
        seed = 7 + index
        assert scene.IsNodePresent(node)
        assert node.GetName() == f"T1-weighted brain MRI of a 70-year-old male [seed {seed}]"
        # Slicer's array is the nibabel array transposed, and IJK-to-RAS is the NIfTI affine.
        np.testing.assert_array_equal(slicer.util.arrayFromVolume(node), standin.volume(seed).transpose(2, 1, 0))
        np.testing.assert_allclose(ijk_to_ras(node), standin.AFFINE)
        assert node.GetAttribute(SYNTHETIC_ATTRIBUTE) == "yes"
        assert node.GetAttribute("BrainGen3D.prompt") == settings.prompt
        assert node.GetAttribute("BrainGen3D.negative_prompt") == "noise"
        assert node.GetAttribute("BrainGen3D.seed") == str(seed)
        assert node.GetAttribute("BrainGen3D.steps") == "3"
        assert node.GetAttribute("BrainGen3D.guidance_scale") == "4.5"
        assert node.GetAttribute("BrainGen3D.sampler") == "ddim"
        assert node.GetAttribute("BrainGen3D.bundle_id") == "standin-bundle"
        assert node.GetAttribute("BrainGen3D.bundle_version") == "0.0.1"
        assert node.GetAttribute("BrainGen3D.created")
        assert node_provenance(node)["index"] == index
        display = node.GetDisplayNode()
        assert not display.GetAutoWindowLevel()
        # The window spans the foreground's percentiles: above the empty-background floor, at most the maximum.
        values = standin.volume(seed)
        assert 0.0 < display.GetWindowLevelMin() < 0.1
        assert 0.85 < display.GetWindowLevelMax() <= values.max()

    hierarchy = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    folder = hierarchy.GetItemChildWithName(hierarchy.GetSceneItemID(), FOLDER_NAME)
    assert folder
    assert [hierarchy.GetItemParent(hierarchy.GetItemByDataNode(n)) for n in nodes] == [folder, folder]
    assert list(work_root.iterdir()) == [], "the per-run output folder is removed after import"

    regen = regeneration_settings(nodes[1])
    assert (regen["prompt"], regen["seed"], regen["steps"], regen["guidance_scale"], regen["sampler"]) == (
        settings.prompt, 8, 3, 4.5, "ddim")
    assert regen["bundle_path"] is None
    assert regen["structure_guidance"] == 0.0  # the stand-in's provenance records no structure guidance


def test_second_generation_reuses_the_folder_and_keeps_names_unique(scene, standin_command, work_root):
    logic = make_logic(scene, standin_command("ok"), work_root)
    settings = GenerationSettings(prompt="FLAIR brain MRI", steps=1, seed=3)
    logic.generate(settings)
    first = logic.wait(120).result[0]
    logic.generate(settings)
    second = logic.wait(120).result[0]
    assert first.GetName() != second.GetName()
    hierarchy = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    parents = {hierarchy.GetItemParent(hierarchy.GetItemByDataNode(n)) for n in (first, second)}
    assert len(parents) == 1
    assert hierarchy.GetItemName(parents.pop()) == FOLDER_NAME


@pytest.mark.parametrize(
    "mode, kind, words",
    [
        ("crash", "crash", ["exit code 3", "simulated crash"]),
        ("killed", "crash", ["signal SIGKILL", "memory"]),
        ("oom", "out_of_memory", ["ran out of memory", "fewer volumes", "Worker message: CUDA out of memory"]),
        ("bad_bundle", "bundle", ["unet.in_channels", "another bundle folder"]),
        ("outside", "import", ["outside its output folder"]),
        ("no_result", "protocol", ["without sending a result"]),
    ],
)
def test_failures_show_a_clear_error_and_leave_the_scene_unchanged(scene, standin_command, work_root,
                                                                  scene_snapshot, mode, kind, words):
    existing = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "user data")
    before = scene_snapshot(scene)
    logic = make_logic(scene, standin_command(mode), work_root)
    logic.generate(GenerationSettings(prompt="T2 brain", steps=2, seed=1))
    outcome = logic.wait(120)
    assert outcome.status == RunStatus.FAILED
    assert outcome.error_kind == kind
    for word in words:
        assert word in outcome.message
    assert scene_snapshot(scene) == before
    assert scene.IsNodePresent(existing)
    assert logic.state == ProcessState.IDLE
    # The run folder is gone (a file the misbehaving stand-in put outside it is not ours to delete).
    assert [p.name for p in work_root.iterdir() if p.name.startswith("run-")] == []


def test_non_json_stdout_lines_become_log_events(scene, standin_command, work_root):
    logic = make_logic(scene, standin_command("noise"), work_root)
    events = []
    logic.generate(GenerationSettings(prompt="PD brain", steps=2), on_event=events.append)
    outcome = logic.wait(120)
    assert outcome.status == RunStatus.SUCCEEDED
    assert {"event": "log", "level": "info", "message": "plain text line 2", "source": "stdout"} in events
    assert any(e.get("source") == "stderr" and "loading bundle" in e["message"] for e in events)


def test_cancel_kills_the_process_tree_within_two_seconds(scene, standin_command, work_root, scene_snapshot):
    before = scene_snapshot(scene)
    logic = make_logic(scene, standin_command("slow", step_seconds=5), work_root)
    events = []
    logic.generate(GenerationSettings(prompt="T1 brain", steps=50), on_event=events.append)
    deadline = time.monotonic() + 20
    while not any("grandchild" in e.get("message", "") for e in events):
        logic.poll()
        assert time.monotonic() < deadline, "the stand-in worker never started"
        time.sleep(0.02)
    worker_pid = next(e["pid"] for e in events if e["event"] == "started")
    grandchild_pid = int(next(e["message"] for e in events if "grandchild" in e.get("message", "")).split()[1])
    assert psutil.pid_exists(worker_pid) and psutil.pid_exists(grandchild_pid)

    started = time.monotonic()
    logic.cancel()
    elapsed = time.monotonic() - started

    assert elapsed < 2.0
    assert logic.state == ProcessState.IDLE
    assert logic.runner.last_outcome.status == RunStatus.CANCELLED
    for pid in (worker_pid, grandchild_pid):
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert scene_snapshot(scene) == before
    assert list(work_root.iterdir()) == []


def test_bad_settings_are_refused_before_any_process_starts(scene, standin_command, work_root, tmp_path):
    logic = make_logic(scene, standin_command("ok"), work_root)
    with pytest.raises(SettingsError, match="prompt is empty"):
        logic.generate(GenerationSettings(prompt="   "))
    with pytest.raises(SettingsError, match="no config.json"):
        logic.generate(GenerationSettings(prompt="T1", bundle_path=str(tmp_path)))
    with pytest.raises(SettingsError, match="sampler"):
        logic.generate(GenerationSettings(prompt="T1", sampler="euler-a"))
    assert logic.state == ProcessState.IDLE
    assert list(work_root.iterdir()) == []


def test_a_second_generation_while_running_is_refused(scene, standin_command, work_root):
    logic = make_logic(scene, standin_command("slow", step_seconds=5), work_root)
    logic.generate(GenerationSettings(prompt="T1", steps=3))
    with pytest.raises(RuntimeError, match="already running"):
        logic.generate(GenerationSettings(prompt="T1", steps=3))
    logic.cancel()
    assert logic.state == ProcessState.IDLE


def test_a_missing_worker_program_fails_cleanly(scene, work_root):
    logic = make_logic(scene, ["/nonexistent/python", "-m", "braingen3d.worker"], work_root)
    outcomes = []
    logic.generate(GenerationSettings(prompt="T1"), on_finished=outcomes.append)
    assert logic.state == ProcessState.IDLE
    assert outcomes[0].status == RunStatus.FAILED and outcomes[0].error_kind == "start"
    assert "could not be started" in outcomes[0].message


@pytest.mark.parametrize(
    "prompt, expected",
    [
        ("FLAIR MRI of a 72-year-old woman with enlarged ventricles and multiple white-matter lesions",
         "FLAIR MRI of a 72-year-old woman with enlarged [seed 5]"),
        ("T1: axial/brain <MRI> \"quoted\"\n  second line", "T1 axial brain MRI quoted second line [seed 5]"),
        ("Hirn-MRT, T2-gewichtet, ältere Frau", "Hirn-MRT T2-gewichtet ältere Frau [seed 5]"),
        ("x" * 80, "x" * 48 + " [seed 5]"),
        ("   ", "BrainGen3D [seed 5]"),
        ("a brain of a person with a and with of with and the an", "a brain of a person [seed 5]"),
    ],
)
def test_volume_names_are_short_and_clean(prompt, expected):
    from BrainGen3DLib.scene_import import volume_name

    assert volume_name(prompt, 5) == expected


def test_nibabel_import_matches_slicers_own_nifti_reader(scene, tmp_path):
    """The no-app import path gives the same voxels and geometry as Slicer's reader (loadVolume's)."""
    from BrainGen3DLib.scene_import import load_volume

    rotation = np.array([[np.cos(0.3), -np.sin(0.3), 0], [np.sin(0.3), np.cos(0.3), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([1.5, 2.0, 3.0])
    affine[:3, 3] = [-20.0, 35.0, -7.5]
    data = np.random.default_rng(0).random((9, 7, 5), dtype=np.float32)
    image = nib.Nifti1Image(data, affine)
    image.set_qform(affine, code=1)
    path = tmp_path / "oblique.nii.gz"
    nib.save(image, str(path))

    ours = load_volume(scene, path, "ours")
    reference = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "reference")
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storage.SetFileName(str(path))
    reference.SetAndObserveStorageNodeID(storage.GetID())
    assert storage.ReadData(reference)

    np.testing.assert_allclose(ijk_to_ras(ours), ijk_to_ras(reference), atol=1e-5)
    np.testing.assert_allclose(ijk_to_ras(ours), affine, atol=1e-5)
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(ours), slicer.util.arrayFromVolume(reference))


def test_regeneration_keeps_structure_guidance(scene) -> None:
    from BrainGen3DLib.provenance import set_provenance

    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
    set_provenance(node, {"synthetic": True, "task": "generate", "prompt": "T1 MRI of an 80-year-old man", "seed": 4,
                          "steps": 25, "guidance_scale": 3.0, "sampler": "dpm++", "structure_guidance": 2.5,
                          "structure_targets_ml": {"ventricles_ml": 41.0}})
    assert regeneration_settings(node)["structure_guidance"] == 2.5  # the weight itself, not just "on"


def test_structure_guidance_weight_reaches_the_worker_request() -> None:
    prompt = "T1-weighted MRI of an 80-year-old man"
    assert GenerationSettings(prompt=prompt).to_request("/tmp/out")["structure_guidance"] is None  # the bundle's own
    assert GenerationSettings(prompt=prompt, structure_guidance=0).to_request("/tmp/out")["structure_guidance"] == 0.0
    assert GenerationSettings(prompt=prompt, structure_guidance=4.5).to_request("/tmp/out")["structure_guidance"] == 4.5
    with pytest.raises(SettingsError, match="Structure guidance must be 0"):
        GenerationSettings(prompt=prompt, structure_guidance=-2).validate()
