"""The module with the real worker (``python -m braingen3d.worker``) and a tiny random bundle.

These runs import torch, MONAI and the text encoder in a child process, so each costs several
seconds; the volumes are 16³ noise (random weights), which is all geometry and plumbing need.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import psutil
import pytest
import slicer
import vtk

from bg3d_gui import make_panel, process_events_until, start_qt, type_text

WORKER = [sys.executable, "-m", "braingen3d.worker"]


def ijk_to_ras(node) -> np.ndarray:
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def test_module_self_test_generates_with_the_real_worker(scene, tiny_bundle, monkeypatch):
    """``BrainGen3DTest`` (what Slicer's test runner calls) with the tiny bundle as the default bundle."""
    start_qt()
    monkeypatch.setenv("BRAINGEN3D_BUNDLE", str(tiny_bundle))
    import BrainGen3D

    test = BrainGen3D.BrainGen3DTest()
    test.runTest()
    node = slicer.util.getNodesByClass("vtkMRMLScalarVolumeNode")[-1]
    config = json.loads((tiny_bundle / "config.json").read_text())
    # The volume sits on the bundle's grid: voxel (i, j, k) maps to RAS through the bundle's affine.
    np.testing.assert_allclose(ijk_to_ras(node), np.asarray(config["spatial"]["affine"]), atol=1e-4)
    assert slicer.util.arrayFromVolume(node).shape == tuple(reversed(config["spatial"]["shape"]))
    for key in ("prompt", "seed", "steps", "guidance_scale", "sampler", "bundle_id", "bundle_version", "created",
                "engine_version", "device", "synthetic"):
        assert node.GetAttribute(f"BrainGen3D.{key}") not in (None, ""), key
    assert node.GetAttribute("BrainGen3D.negative_prompt") == ""
    assert node.GetAttribute("BrainGen3D.bundle_id") == config["bundle_id"]


def test_panel_generates_then_reproduces_a_volume_from_its_attributes(scene, tiny_bundle, work_root, monkeypatch):
    start_qt()
    monkeypatch.setenv("BRAINGEN3D_BUNDLE", str(tiny_bundle))
    widget = make_panel(WORKER, work_root, probe_command=WORKER)
    ui = widget.ui
    try:
        type_text(ui.promptTextEdit, "T1-weighted brain MRI of a 64-year-old female")
        ui.stepsSpinBox.setValue(2)
        ui.seedSpinBox.setValue(314)
        ui.numVolumesSpinBox.setValue(2)
        ui.generateButton.click()
        statuses = set()
        process_events_until(lambda: statuses.add(ui.statusLabel.text()) or not widget.logic.busy, 240)
        assert ui.statusLabel.text().startswith("Generated 2 volume(s)"), ui.statusLabel.text()
        assert any(text.startswith("Volume ") and " step " in text for text in statuses), statuses
        # The real worker's probe task filled in the device line meanwhile.
        process_events_until(lambda: widget.sections[0].device_info is not None, 60)
        assert ui.deviceStatusLabel.text().startswith(("CPU only", "CUDA"))

        first, second = [n for n in slicer.util.getNodesByClass("vtkMRMLScalarVolumeNode") if scene.IsNodePresent(n)]
        assert (first.GetAttribute("BrainGen3D.seed"), second.GetAttribute("BrainGen3D.seed")) == ("314", "315")
        assert not np.array_equal(slicer.util.arrayFromVolume(first), slicer.util.arrayFromVolume(second))

        ui.generatedVolumeSelector.setCurrentNode(second)
        ui.regenerateButton.click()
        assert (ui.seedSpinBox.value(), ui.numVolumesSpinBox.value()) == (315, 1)
        ui.generateButton.click()
        process_events_until(lambda: not widget.logic.busy, 240)
        again = [n for n in slicer.util.getNodesByClass("vtkMRMLScalarVolumeNode") if scene.IsNodePresent(n)][-1]
        assert again not in (first, second)
        np.testing.assert_array_equal(slicer.util.arrayFromVolume(again), slicer.util.arrayFromVolume(second))
        np.testing.assert_allclose(ijk_to_ras(again), ijk_to_ras(second))
    finally:
        widget.cleanup()
        widget.parent.close()


def test_cancelling_the_real_worker_kills_it_and_changes_nothing(scene, tiny_bundle, work_root, scene_snapshot,
                                                                   monkeypatch):
    """Cancel while the real worker is busy loading (cancelling mid-denoising is covered with the stand-in,
    whose steps can be made slow)."""
    start_qt()
    monkeypatch.setenv("BRAINGEN3D_BUNDLE", str(tiny_bundle))
    widget = make_panel(WORKER, work_root)
    ui = widget.ui
    before = scene_snapshot(scene)
    try:
        ui.generateButton.click()
        process_events_until(lambda: "Worker started" in ui.logTextEdit.toPlainText(), 60)
        process = psutil.Process(widget.logic.runner.process.pid)
        time.sleep(0.5)
        assert process.is_running() and "braingen3d.worker" in " ".join(process.cmdline())
        started = time.monotonic()
        ui.generateButton.click()
        process_events_until(lambda: not widget.logic.busy, 5)
        assert time.monotonic() - started < 2.0
        assert not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
        assert ui.statusLabel.text() == "Cancelled; nothing was added to the scene."
        assert scene_snapshot(scene) == before
        assert list(work_root.iterdir()) == []
    finally:
        widget.cleanup()
        widget.parent.close()
