"""The real BrainGen3D panel, offscreen (PySide6 through qt_compat), driven as a user would."""

from __future__ import annotations

import time

import numpy as np
import psutil
import pytest
from bg3d_gui import make_panel, process_events_until, start_qt, type_text, write_fake_bundle


@pytest.fixture
def panel_factory(scene, work_root, tmp_path, monkeypatch):
    start_qt()
    monkeypatch.setenv("BRAINGEN3D_BUNDLE", str(write_fake_bundle(tmp_path / "bundle")))
    import slicer_standins

    slicer_standins.MESSAGES.clear()
    widgets = []

    def factory(worker_command=None, **kwargs):
        widget = make_panel(worker_command, work_root, **kwargs)
        widgets.append(widget)
        process_events_until(lambda: widget.sections[0].device_info is not None, 20)
        return widget

    yield factory
    for widget in widgets:
        widget.cleanup()
        widget.parent.close()


def texts(combo) -> list[str]:
    return [combo.itemText(i) for i in range(combo.count())]


def volumes(scene) -> list:
    import slicer

    return [n for n in slicer.util.getNodesByClass("vtkMRMLScalarVolumeNode") if scene.IsNodePresent(n)]


def test_panel_binds_every_control_to_the_parameter_node(panel_factory, scene):
    widget = panel_factory()
    ui = widget.ui
    assert texts(ui.modalityComboBox) == ["T1-weighted", "T2-weighted", "FLAIR", "PD-weighted"]
    assert texts(ui.lesionsComboBox) == ["any", "none", "one", "multiple"]
    assert texts(ui.samplerComboBox) == ["dpm++", "ddim"]
    assert texts(ui.deviceComboBox) == ["auto", "cpu", "cuda"]
    assert ui.ageSpinBox.text() == "any"
    assert ui.promptTextEdit.toPlainText() == "T1-weighted MRI of a person"
    assert ui.generateButton.text() == "Generate" and ui.generateButton.isEnabled()

    # Devices come from the (stand-in) worker probe; CUDA is greyed out when absent.
    assert ui.deviceStatusLabel.text() == "CPU only, 2 threads (torch 2.13.0+cpu)"
    assert not ui.deviceComboBox.model().item(2).isEnabled()
    # The bundle card is read from the folder's config.json and README.md.
    card = ui.bundleCardLabel.text()
    assert "braingen3d-small-mni2mm" in card and "80 × 96 × 80 @ 2 mm" in card and "template-derived" in card

    # Structure guidance starts at the bundle's own weight; 0 turns it off, any other value is the weight.
    parameters = widget.logic.getParameterNode()
    from BrainGen3DLib.parameters import generation_settings

    assert ui.structureGuidanceSpinBox.text() == "Bundle default"
    assert generation_settings(parameters).structure_guidance is None
    ui.structureGuidanceSpinBox.setValue(0.0)
    assert generation_settings(parameters).structure_guidance == 0.0
    ui.structureGuidanceSpinBox.setValue(2.5)
    assert generation_settings(parameters).structure_guidance == 2.5

    ui.stepsSpinBox.setValue(7)
    ui.guidanceSpinBox.setValue(5.5)
    ui.samplerComboBox.setCurrentIndex(1)
    ui.seedSpinBox.setValue(123)
    ui.useDefaultBundleCheckBox.setChecked(False)
    parameters = widget.logic.getParameterNode()
    assert (parameters.steps, parameters.guidanceScale, parameters.sampler, parameters.seed) == (7, 5.5, "ddim", 123)
    from BrainGen3DLib.parameters import inpaint_settings

    # Inpainting takes the sampler but not the generation guidance: the bundle has its own for inpainting.
    lesion = inpaint_settings(parameters)
    assert lesion.sampler == "ddim" and lesion.guidance_scale is None
    assert lesion.to_request("/tmp/v.nii.gz", "/tmp/m.nii.gz", "/tmp/out")["guidance"] is None
    assert ui.bundlePathLineEdit.isEnabled()
    assert "No bundle folder is chosen" in ui.bundleCardLabel.text()
    assert not ui.generateButton.isEnabled()

    ui.randomSeedButton.click()
    assert parameters.seed != 123 and ui.seedSpinBox.value() == parameters.seed


def test_quick_picks_write_the_prompt_until_the_user_edits_it(panel_factory):
    widget = panel_factory()
    ui = widget.ui
    parameters = widget.logic.getParameterNode()
    ui.modalityComboBox.setCurrentIndex(2)
    ui.ageSpinBox.setValue(72)
    ui.sexComboBox.setCurrentIndex(2)
    ui.ventriclesComboBox.setCurrentIndex(2)
    ui.lesionsComboBox.setCurrentIndex(3)
    expected = "FLAIR MRI of a 72-year-old man with enlarged ventricles and multiple white-matter lesions"
    assert ui.promptTextEdit.toPlainText() == expected == parameters.prompt

    # Typing keeps every key in order (the binding never rewrites the widget under the cursor).
    type_text(ui.promptTextEdit, "axial FLAIR, elderly")
    assert parameters.prompt == "axial FLAIR, elderly"
    assert "Edited by hand" in ui.promptStatusLabel.text()
    ui.lesionsComboBox.setCurrentIndex(1)
    assert ui.promptTextEdit.toPlainText() == "axial FLAIR, elderly"

    ui.applyQuickPicksButton.click()
    assert parameters.prompt == "FLAIR MRI of a 72-year-old man with enlarged ventricles and no lesions"
    assert "Written by the quick picks" in ui.promptStatusLabel.text()
    type_text(ui.negativePromptTextEdit, "motion artifacts")
    assert parameters.negativePrompt == "motion artifacts"


def test_generate_shows_progress_and_adds_the_volume(panel_factory, scene, standin_command):
    widget = panel_factory(standin_command("ok", step_seconds=0.05))
    ui = widget.ui
    type_text(ui.promptTextEdit, "T2-weighted brain MRI of a 30-year-old female")
    ui.stepsSpinBox.setValue(6)
    ui.numVolumesSpinBox.setValue(2)
    ui.seedSpinBox.setValue(40)

    ui.generateButton.click()
    assert ui.generateButton.text() == "Cancel"
    assert not ui.samplingCollapsibleButton.isEnabled()
    seen = set()

    def finished():
        seen.add((ui.progressBar.value(), ui.statusLabel.text()))
        return not widget.logic.busy

    process_events_until(finished, 30)
    progress_values = sorted(value for value, _ in seen)
    assert any(0 < value < 12 for value in progress_values), "intermediate progress was shown"
    assert any("Volume 2/2, denoising step" in text and "left" in text for _, text in seen)
    assert ui.generateButton.text() == "Generate" and ui.samplingCollapsibleButton.isEnabled()
    assert ui.progressBar.value() == ui.progressBar.maximum() == 12

    nodes = volumes(scene)
    assert [n.GetName() for n in nodes] == ["T2-weighted brain MRI of a 30-year-old female [seed 40]",
                                            "T2-weighted brain MRI of a 30-year-old female [seed 41]"]
    assert ui.statusLabel.text().startswith("Generated 2 volume(s)")
    assert ui.generatedVolumeSelector.currentNode() is nodes[1]
    log = ui.logTextEdit.toPlainText()
    assert "Worker started" in log and "stand-in worker, mode ok" in log and "Done in" in log


def test_cancel_mid_run_stops_the_process_tree_and_leaves_the_scene_alone(panel_factory, scene, standin_command,
                                                                           scene_snapshot):
    widget = panel_factory(standin_command("slow", step_seconds=3))
    ui = widget.ui
    before = scene_snapshot(scene)
    ui.generateButton.click()
    process_events_until(lambda: "grandchild" in ui.logTextEdit.toPlainText(), 20)
    log = ui.logTextEdit.toPlainText()
    worker_pid = int(log.split("Worker started (process ")[1].split(")")[0])
    grandchild_pid = int(log.split("grandchild ")[1].split()[0])

    started = time.monotonic()
    ui.generateButton.click()  # the button now reads "Cancel"
    process_events_until(lambda: not widget.logic.busy, 5)
    assert time.monotonic() - started < 2.0
    for pid in (worker_pid, grandchild_pid):
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert ui.generateButton.text() == "Generate"
    assert ui.statusLabel.text() == "Cancelled; nothing was added to the scene."
    assert scene_snapshot(scene) == before


def test_a_worker_crash_is_reported_and_changes_nothing(panel_factory, scene, standin_command, scene_snapshot):
    import slicer_standins

    widget = panel_factory(standin_command("crash"))
    before = scene_snapshot(scene)
    widget.ui.generateButton.click()
    process_events_until(lambda: not widget.logic.busy, 20)
    assert scene_snapshot(scene) == before
    kind, text = slicer_standins.MESSAGES[-1]
    assert kind == "error" and "stopped unexpectedly (exit code 3)" in text and "simulated crash" in text
    assert "exit code 3" in widget.ui.statusLabel.text()
    assert widget.ui.generateButton.text() == "Generate"


def test_declining_the_installation_starts_nothing(panel_factory, scene, standin_command, scene_snapshot):
    widget = panel_factory(standin_command("ok"), dependencies_ok=False)
    before = scene_snapshot(scene)
    widget.ui.generateButton.click()
    assert not widget.logic.busy
    assert "nothing was installed" in widget.ui.statusLabel.text()
    assert scene_snapshot(scene) == before


def test_load_parameters_from_a_generated_volume_reproduces_it(panel_factory, scene, standin_command):
    import slicer

    widget = panel_factory(standin_command("ok"))
    ui = widget.ui
    type_text(ui.promptTextEdit, "PD-weighted brain MRI")
    type_text(ui.negativePromptTextEdit, "blur")
    ui.stepsSpinBox.setValue(3)
    ui.guidanceSpinBox.setValue(6.0)
    ui.samplerComboBox.setCurrentIndex(1)
    ui.seedSpinBox.setValue(900)
    ui.numVolumesSpinBox.setValue(2)
    ui.generateButton.click()
    process_events_until(lambda: not widget.logic.busy, 30)
    second = volumes(scene)[1]

    # The user moves on to other settings, then picks the second volume and loads its parameters.
    type_text(ui.promptTextEdit, "something else")
    ui.seedSpinBox.setValue(1)
    ui.stepsSpinBox.setValue(20)
    ui.samplerComboBox.setCurrentIndex(0)
    ui.generatedVolumeSelector.setCurrentNode(second)
    ui.regenerateButton.click()
    assert ui.promptTextEdit.toPlainText() == "PD-weighted brain MRI"
    assert ui.negativePromptTextEdit.toPlainText() == "blur"
    assert (ui.seedSpinBox.value(), ui.stepsSpinBox.value(), ui.guidanceSpinBox.value()) == (901, 3, 6.0)
    assert ui.samplerComboBox.currentText() == "ddim" and ui.numVolumesSpinBox.value() == 1
    assert "Generate reproduces it" in ui.statusLabel.text()

    ui.generateButton.click()
    process_events_until(lambda: not widget.logic.busy, 30)
    again = volumes(scene)[-1]
    assert again is not second
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(again), slicer.util.arrayFromVolume(second))


def test_saving_and_reloading_the_scene_restores_the_panel(panel_factory, scene, tmp_path):
    widget = panel_factory()
    ui = widget.ui
    ui.modalityComboBox.setCurrentIndex(1)
    type_text(ui.promptTextEdit, "custom prompt text")
    ui.stepsSpinBox.setValue(33)
    ui.seedSpinBox.setValue(2024)
    ui.deviceComboBox.setCurrentIndex(1)
    ui.useDefaultBundleCheckBox.setChecked(False)
    ui.bundlePathLineEdit.setCurrentPath(str(tmp_path / "my bundle"))
    scene.SetURL(str(tmp_path / "scene.mrml"))
    scene.Commit()

    scene.Clear(0)  # File > Close scene: the panel returns to defaults
    assert ui.stepsSpinBox.value() == 25 and ui.promptTextEdit.toPlainText() == "T1-weighted MRI of a person"

    scene.SetURL(str(tmp_path / "scene.mrml"))
    scene.Import()
    assert ui.promptTextEdit.toPlainText() == "custom prompt text"
    assert (ui.stepsSpinBox.value(), ui.seedSpinBox.value()) == (33, 2024)
    assert ui.modalityComboBox.currentText() == "T2-weighted" and ui.deviceComboBox.currentText() == "cpu"
    assert not ui.useDefaultBundleCheckBox.isChecked()
    assert ui.bundlePathLineEdit.currentPath == str(tmp_path / "my bundle")
    assert "Edited by hand" in ui.promptStatusLabel.text()


@pytest.mark.slow
def test_the_documentation_screenshot_renders(scene, tmp_path):
    """docs/images/panel.png comes from render_panel_screenshot.py; it must keep working."""
    from PIL import Image
    from render_panel_screenshot import render

    image = Image.open(render(tmp_path / "panel.png")).convert("RGB")
    assert image.width == 460 and image.height > 800
    assert len(image.getcolors(maxcolors=1 << 20)) > 100, "the screenshot is blank"
