"""Render the BrainGen3D panel's Lesion seeds and Export sections offscreen after a (stand-in) inpainting.

    python Testing/slicer/module/render_lesion_screenshot.py docs/images/lesion_seeds.png

This is how docs/images/lesion_seeds.png is made: the widget is the module's own (its .ui and Python),
shown through the qt_compat stand-ins; the volume is the test phantom on an oblique grid, the lesion
region is a sphere written into the seed segment (as the sphere brush would paint it), and the worker
is ``bg3d_standin_worker.py``, so no model is needed. The segment editor is the minimal stand-in
(effect buttons only), so it looks plainer than Slicer's.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[2] / "BrainGen3D")]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

WIDTH = 460


def render(output: Path) -> Path:
    """Build the panel, paint a seed, inpaint it with the stand-in worker, and grab the panel into ``output``."""
    import slicer
    from bg3d_gui import make_panel, process_events_until, start_qt, write_fake_bundle

    start_qt()
    import lesion_phantoms as ph
    import qt

    scene = slicer.vtkMRMLScene()
    segmentations_logic = slicer.vtkSlicerSegmentationsModuleLogic()
    segmentations_logic.SetMRMLScene(scene)
    slicer.mrmlScene = scene
    with tempfile.TemporaryDirectory() as folder:
        os.environ["BRAINGEN3D_BUNDLE"] = str(write_fake_bundle(Path(folder) / "bundle"))
        worker = [sys.executable, str(HERE / "bg3d_standin_worker.py"), "--mode", "ok", "--step-seconds", "0.05"]
        widget = make_panel(worker, Path(folder))
        widget.logic.lesions.worker_command = worker
        widget.logic.lesions.work_root = Path(folder)
        process_events_until(lambda: widget.sections[0].device_info is not None, 30)
        ui = widget.ui
        for name in ("promptCollapsibleButton", "samplingCollapsibleButton", "modelCollapsibleButton",
                     "resultsCollapsibleButton"):
            getattr(ui, name).setCollapsed(True)
        ui.lesionCollapsibleButton.setCollapsed(False)

        source = ph.add_volume(scene, "oblique", name="FLAIR scan")
        ui.lesionVolumeSelector.setCurrentNode(source)
        ui.lesionNewSegmentationButton.click()
        seeds = widget.logic.getParameterNode().lesionSegmentation
        ph.paint_sphere(seeds, "lesion_seed", ph.SHAPE, ph.volume_affine(source), ph.LESION_SITE, 7.5)
        ui.lesionSeedSpinBox.setValue(2024)
        ui.inpaintButton.click()
        process_events_until(lambda: not widget.logic.lesions.busy, 60)

        ui.exportCollapsibleButton.setCollapsed(False)
        ui.exportNrrdCheckBox.setChecked(True)
        ui.exportDicomCheckBox.setChecked(True)
        ui.exportModalityComboBox.setCurrentIndex(3)
        ui.exportFolderLineEdit.setCurrentPath("/home/user/BrainGen3D-exports")

        layout = widget.parent.layout()
        height = layout.totalHeightForWidth(WIDTH) if layout.hasHeightForWidth() else widget.parent.sizeHint().height()
        widget.parent.resize(WIDTH, max(height, widget.parent.minimumSizeHint().height()))
        process_events_until(lambda: True, 1)
        image = widget.parent.grab()
        output.parent.mkdir(parents=True, exist_ok=True)
        assert image.save(str(output), "PNG"), f"could not write {output}"
        widget.cleanup()
        widget.parent.close()
    qt.QApplication.instance().processEvents()
    segmentations_logic.SetMRMLScene(None)
    return output


if __name__ == "__main__":
    print(render(Path(sys.argv[1] if len(sys.argv) > 1 else "lesion_seeds.png")))
