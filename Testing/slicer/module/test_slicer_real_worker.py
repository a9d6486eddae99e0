"""The module with the real worker (``python -m braingen3d.worker``) and the shared tiny random bundle.

Each worker run imports torch, MONAI and the text encoder in a child process, which costs several
seconds of CPU, so these tests make as few runs as they can: two generations and one cancelled run.
The volumes are 16³ noise (random weights), which is all that geometry, provenance and
reproducibility need.
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
from bg3d_gui import make_panel, process_events_until, start_qt

pytestmark = pytest.mark.slow

WORKER = [sys.executable, "-m", "braingen3d.worker"]


def ijk_to_ras(node) -> np.ndarray:
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def scene_volumes(scene) -> list:
    return [n for n in slicer.util.getNodesByClass("vtkMRMLScalarVolumeNode") if scene.IsNodePresent(n)]


def test_self_test_volume_is_on_the_bundle_grid_and_the_panel_reproduces_it(scene, tiny_bundle, work_root,
                                                                           monkeypatch):
    """``BrainGen3DTest`` (what Slicer's test runner calls) generates a volume; the panel then loads that
    volume's parameters and generates it again, voxel for voxel."""
    start_qt()
    monkeypatch.setenv("BRAINGEN3D_BUNDLE", str(tiny_bundle))
    import BrainGen3D

    BrainGen3D.BrainGen3DTest().runTest()
    (node,) = scene_volumes(scene)
    config = json.loads((tiny_bundle / "config.json").read_text())
    # Voxel (i, j, k) maps to RAS through the bundle's own affine.
    np.testing.assert_allclose(ijk_to_ras(node), np.asarray(config["spatial"]["affine"]), atol=1e-4)
    assert slicer.util.arrayFromVolume(node).shape == tuple(reversed(config["spatial"]["shape"]))
    for key in ("prompt", "seed", "steps", "guidance_scale", "sampler", "bundle_id", "bundle_version", "created",
                "engine_version", "device", "synthetic"):
        assert node.GetAttribute(f"BrainGen3D.{key}") not in (None, ""), key
    assert node.GetAttribute("BrainGen3D.bundle_id") == config["bundle_id"]
    assert node.GetAttribute("BrainGen3D.negative_prompt") == ""

    widget = make_panel(WORKER, work_root)
    ui = widget.ui
    try:
        ui.seedSpinBox.setValue(1)
        ui.stepsSpinBox.setValue(9)
        ui.generatedVolumeSelector.setCurrentNode(node)
        ui.regenerateButton.click()
        assert (ui.seedSpinBox.value(), ui.stepsSpinBox.value(), ui.numVolumesSpinBox.value()) == (11, 2, 1)
        assert ui.useDefaultBundleCheckBox.isChecked()
        # Record every status the panel shows: a fast machine can show and replace the progress line
        # between two polls of the label.
        (section,) = [s for s in widget.sections if hasattr(s, "_setStatus")]
        statuses = []
        show_status = section._setStatus
        section._setStatus = lambda text, error=False: (statuses.append(text), show_status(text, error))
        ui.generateButton.click()
        process_events_until(lambda: not widget.logic.busy, 300)
        assert ui.statusLabel.text().startswith("Generated 1 volume(s)"), ui.statusLabel.text()
        assert any(text.startswith("Volume 1/1, ") and " step " in text for text in statuses), statuses
        again = scene_volumes(scene)[-1]
        assert again is not node
        np.testing.assert_array_equal(slicer.util.arrayFromVolume(again), slicer.util.arrayFromVolume(node))
        np.testing.assert_allclose(ijk_to_ras(again), ijk_to_ras(node))
    finally:
        widget.cleanup()
        widget.parent.close()


def test_cancelling_the_real_worker_while_it_loads_kills_it_and_changes_nothing(scene, tiny_bundle, work_root,
                                                                                  scene_snapshot, monkeypatch):
    """Cancel while the real worker is busy loading, which nothing can interrupt: it is killed (cancelling
    mid-denoising keeps it warm: test_slicer_warm_worker.py)."""
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


def test_the_panel_understands_the_real_probe_answer():
    """The worker's ``probe`` task output (run in-process here; torch is already loaded) parses into the
    device line."""
    from braingen3d.worker.tasks import run_probe
    from BrainGen3DLib.devices import DeviceInfo

    (output,) = run_probe({"task": "probe"}, emit=None)
    info = DeviceInfo.from_probe_output(output)
    import torch

    assert info.torch_version == torch.__version__ and info.cuda_available == torch.cuda.is_available()
    assert info.engine_version and info.cpu_threads >= 1
    assert info.summary().startswith("CUDA" if info.cuda_available else "CPU only")
