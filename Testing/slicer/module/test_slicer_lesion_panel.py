"""The Lesion seeds and Export sections of the real panel, offscreen (PySide6 through qt_compat)."""

from __future__ import annotations

import json
import sys
import time

import lesion_phantoms as ph
import numpy as np
import psutil
import pytest
from bg3d_gui import make_panel, process_events_until, start_qt, write_fake_bundle

PRESETS = ["a 15 mm white-matter hyperintensity", "multiple small periventricular lesions",
           "a 10 mm lacunar lesion in the deep white matter",
           "confluent periventricular white-matter hyperintensities"]


@pytest.fixture
def panel(scene, work_root, tmp_path, monkeypatch, standin_command):
    """The module panel with a stand-in inpainting worker (steps of 0.05 s) and a bundle card offering RePaint."""
    start_qt()
    monkeypatch.setenv("BRAINGEN3D_BUNDLE", str(write_fake_bundle(tmp_path / "bundle")))
    import slicer_standins

    slicer_standins.MESSAGES.clear()
    widget = make_panel(standin_command("ok"), work_root)
    widget.logic.lesions.worker_command = standin_command("ok", step_seconds=0.05)
    widget.logic.lesions.work_root = work_root
    widget.logic.exports.work_root = work_root
    widget.ui.lesionCollapsibleButton.setCollapsed(False)
    process_events_until(lambda: widget.sections[0].device_info is not None, 20)
    yield widget
    widget.cleanup()
    widget.parent.close()


def texts(combo) -> list[str]:
    return [combo.itemText(i) for i in range(combo.count())]


def run_until_idle(widget, task, timeout: float = 30) -> set:
    """Process events until ``task`` is idle; returns the status texts seen on the way."""
    seen = set()
    process_events_until(lambda: seen.add(widget.ui.lesionStatusLabel.text()) or not task.busy, timeout)
    return seen


def test_lesion_section_controls_and_segment_editor_limits(panel, scene):
    ui = panel.ui
    volume = ph.add_volume(scene, "oblique", name="scan")
    scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "labels")
    ui.lesionVolumeSelector.setCurrentNode(volume)
    parameters = panel.logic.getParameterNode()

    assert [ui.lesionVolumeSelector.itemText(i) for i in range(ui.lesionVolumeSelector.count())] == ["None", "scan"]
    assert parameters.lesionVolume is volume
    assert texts(ui.lesionRegionKindComboBox) == ["ROI box", "Painted segment"]
    assert texts(ui.lesionMethodComboBox) == ["auto", "repaint", "inpaint_unet"]
    assert texts(ui.lesionPromptComboBox) == PRESETS and ui.lesionPromptComboBox.isEditable()
    assert ui.lesionPromptComboBox.currentText() == PRESETS[0] == parameters.lesionPrompt
    ui.lesionPromptComboBox.setCurrentIndex(1)
    assert parameters.lesionPrompt == PRESETS[1]
    ui.lesionPromptComboBox.lineEdit().selectAll()
    from PySide6.QtTest import QTest

    QTest.keyClicks(ui.lesionPromptComboBox.lineEdit(), "two 5 mm lesions")
    assert parameters.lesionPrompt == "two 5 mm lesions"
    assert ui.inpaintButton.text() == "Inpaint lesion" and ui.inpaintButton.isEnabled()
    assert not ui.lesionROIWidget.isHidden() and ui.lesionSegmentWidget.isHidden()

    editor = panel.sections[1].editor.widget
    assert editor.effectNameOrder() == ["Paint", "Draw", "Erase"] and not editor.unorderedEffectsVisible()
    assert editor.visibleEffectNames() == ["Paint", "Draw", "Erase"]
    assert editor.selectors_visible == {"segmentation": False, "source volume": False,
                                        "switch to Segmentations": False}
    assert scene.GetNodesByClass("vtkMRMLSegmentEditorNode").GetNumberOfItems() == 0, "nothing added until painting"

    ui.lesionRegionKindComboBox.setCurrentIndex(1)
    assert ui.lesionROIWidget.isHidden() and not ui.lesionSegmentWidget.isHidden()
    ui.lesionVolumeSelector.setCurrentNode(None)
    assert not ui.inpaintButton.isEnabled() and not ui.lesionNewSegmentationButton.isEnabled()


def test_new_roi_then_inpaint_adds_new_nodes_and_offers_them_for_export(panel, scene):
    ui = panel.ui
    source = ph.add_volume(scene, "oblique", name="scan")
    before = ph.voxels(source)
    ui.lesionVolumeSelector.setCurrentNode(source)
    ui.lesionNewROIButton.click()
    parameters = panel.logic.getParameterNode()
    roi = parameters.lesionROI
    assert roi is not None and ui.lesionROISelector.currentNode() is roi
    # The new box sits at the volume's centre, 15 mm, aligned with the volume's (oblique) axes.
    assert np.allclose(roi.GetCenterWorld(), ph.BRAIN_CENTRE) and np.allclose(roi.GetSize(), [15.0] * 3)
    axes = ph.volume_affine(source)[:3, :3] / ph.SPACING
    object_to_world = np.array([[roi.GetObjectToWorldMatrix().GetElement(r, c) for c in range(3)] for r in range(3)])
    # Its edges follow the volume's axes (this grid is left-handed, so one edge direction is reversed).
    np.testing.assert_allclose(np.abs(object_to_world), np.abs(axes), atol=1e-9)
    assert np.linalg.det(object_to_world) == pytest.approx(1.0)
    roi.SetCenterWorld(*ph.LESION_SITE)  # the user drags the box onto the lesion site

    ui.seedSpinBox.setValue(5)
    ui.lesionSeedSpinBox.setValue(77)
    ui.inpaintButton.click()
    assert ui.inpaintButton.text() == "Cancel"
    assert ui.generateButton.text() == "Generate" and not ui.generateButton.isEnabled()
    assert not ui.lesionInputsWidget.isEnabled() and not ui.samplingCollapsibleButton.isEnabled()
    seen = run_until_idle(panel, panel.logic.lesions)

    assert any(text.startswith("denoise: step ") for text in seen), seen
    status = ui.lesionStatusLabel.text()
    assert status.startswith("Added 'scan + lesion [seed 77]' and its lesion segmentation 'scan + lesion [seed 77] mask'")
    assert "'scan' is unchanged; to undo, delete the two new nodes." in status
    assert ui.inpaintButton.text() == "Inpaint lesion" and ui.generateButton.isEnabled()
    assert np.array_equal(ph.voxels(source), before)
    new_volume = parameters.exportVolume
    assert new_volume.GetName() == "scan + lesion [seed 77]"
    assert parameters.exportSegmentation.GetName() == "scan + lesion [seed 77] mask"
    expected = ph.in_box(ph.world_points(ph.SHAPE, ph.volume_affine(source)), ph.LESION_SITE, (15.0,) * 3, axes)
    assert np.array_equal(ph.voxels(new_volume) != before, expected)
    assert "Inpainting 'scan' in ROI" in ui.logTextEdit.toPlainText()


def test_painting_a_segment_configures_the_editor_and_inpaints_it(panel, scene):
    ui = panel.ui
    source = ph.add_volume(scene, "lps", name="scan")
    ui.lesionVolumeSelector.setCurrentNode(source)
    ui.lesionNewSegmentationButton.click()
    parameters = panel.logic.getParameterNode()
    seeds = parameters.lesionSegmentation
    editor = panel.sections[1].editor.widget
    editor_node = editor.mrmlSegmentEditorNode()

    assert ui.lesionRegionKindComboBox.currentText() == "Painted segment"
    assert seeds.GetNodeReference(seeds.GetReferenceImageGeometryReferenceRole()) is source
    assert seeds.GetSegmentation().GetSegment("lesion_seed").GetName() == "Lesion seed"
    assert editor.segmentationNode() is seeds and editor.sourceVolumeNode() is source
    assert editor_node.GetSingletonTag() == "BrainGen3DLesionSeeds"
    assert editor_node.GetAttribute("BrushSphere") == "1", "the sphere brush is on"
    assert editor_node.GetSelectedSegmentID() == "lesion_seed" and editor.activeEffectName() == "Paint"

    painted = ph.paint_sphere(seeds, "lesion_seed", ph.SHAPE, ph.volume_affine(source), ph.LESION_SITE, 7.0)
    ui.inpaintButton.click()
    assert editor.activeEffectName() == "", "painting stops while the worker runs"
    run_until_idle(panel, panel.logic.lesions)

    assert ui.lesionStatusLabel.text().startswith("Added"), ui.lesionStatusLabel.text()
    assert np.array_equal(ph.voxels(parameters.exportVolume) != ph.voxels(source), painted)


def test_errors_are_shown_and_change_nothing(panel, scene, scene_snapshot, standin_command):
    import slicer_standins

    ui = panel.ui
    source = ph.add_volume(scene, "oblique", name="scan")
    ui.lesionVolumeSelector.setCurrentNode(source)
    ui.lesionNewROIButton.click()
    roi = panel.logic.getParameterNode().lesionROI
    roi.SetCenterWorld(*(ph.BRAIN_CENTRE + [500.0, 0.0, 0.0]))
    before = scene_snapshot(scene)

    ui.inpaintButton.click()  # refused at once: the box covers no voxel
    assert not panel.logic.lesions.busy
    kind, text = slicer_standins.MESSAGES[-1]
    assert kind == "error" and "covers no voxel of 'scan'" in text
    assert "covers no voxel" in ui.lesionStatusLabel.text() and ui.inpaintButton.text() == "Inpaint lesion"

    roi.SetCenterWorld(*ph.LESION_SITE)
    panel.logic.lesions.worker_command = standin_command("no_inpaint")
    ui.inpaintButton.click()
    run_until_idle(panel, panel.logic.lesions)
    kind, text = slicer_standins.MESSAGES[-1]
    assert kind == "error" and "does not support inpainting" in text
    assert scene_snapshot(scene) == before
    assert ui.generateButton.isEnabled() and ui.inpaintButton.isEnabled()


def test_cancel_from_the_panel_stops_the_worker_tree(panel, scene, scene_snapshot, standin_command):
    ui = panel.ui
    source = ph.add_volume(scene, "ras", name="scan")
    ui.lesionVolumeSelector.setCurrentNode(source)
    ui.lesionNewROIButton.click()
    before = scene_snapshot(scene)
    panel.logic.lesions.worker_command = standin_command("slow", step_seconds=3)
    ui.inpaintButton.click()
    process_events_until(lambda: "grandchild" in ui.logTextEdit.toPlainText(), 20)
    log = ui.logTextEdit.toPlainText()
    pids = [int(log.split("Process ")[-1].split()[0]), int(log.split("grandchild ")[1].split()[0])]

    started = time.monotonic()
    ui.inpaintButton.click()  # reads "Cancel"
    process_events_until(lambda: not panel.logic.lesions.busy, 5)

    assert time.monotonic() - started < 2.0
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert ui.lesionStatusLabel.text() == "Cancelled; nothing was added to the scene."
    assert scene_snapshot(scene) == before


STANDIN_EXPORT_WORKER = """
import json, sys
request = json.loads(sys.stdin.read())
json.dump(request, open(sys.argv[1], "w"))
print(json.dumps({"event": "started", "pid": 0}))
outputs = []
for step, export in enumerate(request["exports"]):
    print(json.dumps({"event": "progress", "step": step, "total": len(request["exports"]), "phase": "export " + export["format"]}))
    outputs.append({"path": export["output"], "format": export["format"]})
print(json.dumps({"event": "result", "outputs": outputs}))
print(json.dumps({"event": "done"}))
"""


def test_export_section_follows_the_lesion_and_runs_the_export_task(panel, scene, tmp_path):
    from BrainGen3DLib.lesion_logic import InpaintSettings
    from BrainGen3DLib.lesion_mask import LesionRegion

    ui = panel.ui
    source = ph.add_volume(scene, "oblique", name="scan")
    roi = ph.add_roi(scene, ph.LESION_SITE, (12.0, 12.0, 12.0))
    panel.logic.lesions.inpaint(source, LesionRegion(roi=roi), InpaintSettings(prompt="a lesion", steps=1, seed=3))
    nodes = panel.logic.lesions.wait(120).result
    request_file = tmp_path / "request.json"
    panel.logic.exports.worker_command = [sys.executable, "-c", STANDIN_EXPORT_WORKER, str(request_file)]
    ui.exportCollapsibleButton.setCollapsed(False)

    ui.exportVolumeSelector.setCurrentNode(nodes.volume)
    assert ui.exportSegmentationSelector.currentNode() is nodes.segmentation, "the lesion comes along"
    assert not ui.exportModalityComboBox.isEnabled()
    ui.exportDicomCheckBox.setChecked(True)
    ui.exportNrrdCheckBox.setChecked(True)
    assert ui.exportModalityComboBox.isEnabled()
    assert [ui.exportModalityComboBox.itemText(i) for i in range(ui.exportModalityComboBox.count())] == [
        "auto", "T1", "T2", "FLAIR", "PD"]
    ui.exportModalityComboBox.setCurrentIndex(3)
    ui.exportFolderLineEdit.setCurrentPath(str(tmp_path / "out"))
    ui.exportButton.click()
    process_events_until(lambda: not panel.logic.exports.busy, 30)

    assert ui.exportStatusLabel.text().startswith("Exported 3 file(s)"), ui.exportStatusLabel.text()
    request = json.loads(request_file.read_text())
    assert [e["format"] for e in request["exports"]] == ["nifti", "nrrd", "dicom"]
    assert request["exports"][2]["output"] == str(tmp_path / "out" / "dicom" / "scan_lesion_seed_3")
    assert request["modality"] == "FLAIR" and request["overwrite"] is False and request["mask"]
    assert list(panel.logic.exports.work_root.iterdir()) == [], "the temporary inputs are removed"

    (tmp_path / "out" / "nifti").mkdir(parents=True)
    (tmp_path / "out" / "nifti" / "scan_lesion_seed_3.nii.gz").write_bytes(b"keep me")
    ui.exportButton.click()
    assert "already exists" in ui.exportStatusLabel.text() and not panel.logic.exports.busy
    assert (tmp_path / "out" / "nifti" / "scan_lesion_seed_3.nii.gz").read_bytes() == b"keep me"


def test_lesion_and_export_settings_are_saved_with_the_scene(panel, scene, tmp_path):
    ui = panel.ui
    source = ph.add_volume(scene, "ras", name="scan")
    ui.lesionVolumeSelector.setCurrentNode(source)
    ui.lesionNewROIButton.click()
    ui.lesionStepsSpinBox.setValue(12)
    ui.lesionBlendMarginSpinBox.setValue(4.5)
    assert ui.lesionAttemptsSpinBox.value() == 3
    ui.lesionAttemptsSpinBox.setValue(1)
    ui.lesionPromptComboBox.setCurrentIndex(2)
    ui.exportFolderLineEdit.setCurrentPath(str(tmp_path / "exports"))
    ui.exportOverwriteCheckBox.setChecked(True)
    scene.SetURL(str(tmp_path / "scene.mrml"))
    scene.Commit()
    scene.Clear(0)
    assert ui.lesionStepsSpinBox.value() == 25 and ui.lesionVolumeSelector.currentNode() is None

    scene.SetURL(str(tmp_path / "scene.mrml"))
    scene.Import()
    assert ui.lesionStepsSpinBox.value() == 12 and ui.lesionBlendMarginSpinBox.value() == 4.5
    assert ui.lesionAttemptsSpinBox.value() == 1
    assert ui.lesionPromptComboBox.currentText() == PRESETS[2]
    assert ui.lesionVolumeSelector.currentNode().GetName() == "scan"
    assert ui.lesionROISelector.currentNode().GetName() == "Lesion ROI"
    assert ui.exportFolderLineEdit.currentPath == str(tmp_path / "exports") and ui.exportOverwriteCheckBox.isChecked()


def test_the_lesion_screenshot_renders(scene, tmp_path):
    """docs/images/lesion_seeds.png comes from render_lesion_screenshot.py; it must keep working."""
    from PIL import Image
    from render_lesion_screenshot import WIDTH, render

    image = Image.open(render(tmp_path / "lesion_seeds.png")).convert("RGB")
    assert image.width == WIDTH and image.height > 800
    assert len(image.getcolors(maxcolors=1 << 20)) > 100, "the screenshot is blank"


def test_the_status_line_reports_the_contrast_check_from_the_provenance():
    from BrainGen3DLib.lesion_section import contrast_summary

    check = {"requested": "hyperintense", "checked": True, "min_ratio": 1.1,
             "attempts": [{"seed": 7, "ratio": 0.92, "passed": False}, {"seed": 8, "ratio": 1.31, "passed": True}],
             "passed": True}
    text = contrast_summary({"seed": 8, "max_attempts": 3, "contrast_check": check})
    assert "1.31x" in text and "at least 1.10x" in text and "attempt 2 of 3" in text
    missed = {**check, "attempts": [{"seed": 7, "ratio": 0.92, "passed": False}], "passed": False}
    text = contrast_summary({"seed": 7, "max_attempts": 1, "contrast_check": missed})
    assert text.startswith(" Warning") and "0.92x, seed 7" in text
    assert contrast_summary({"seed": 7, "contrast_check": {"requested": None, "checked": False, "attempts": []}}) == ""
    assert contrast_summary({"seed": 7}) == ""  # an older engine's provenance has no check
