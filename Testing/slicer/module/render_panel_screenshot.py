"""Render the real BrainGen3D panel offscreen after a (stand-in) generation and save it as a PNG.

    python Testing/slicer/module/render_panel_screenshot.py docs/images/panel.png

This is how docs/images/panel.png is made: the widget is the module's own (its .ui and Python), shown
through the qt_compat stand-ins; the worker is ``bg3d_standin_worker.py`` so that no model is needed.
CTK's collapsible buttons are drawn by the minimal stand-in, so they look plainer than in Slicer.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[2] / "BrainGen3D")]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def render(output: Path) -> Path:
    """Build the panel, run one stand-in generation, and grab the panel into ``output``."""
    import slicer

    from bg3d_gui import make_panel, process_events_until, start_qt, write_fake_bundle

    start_qt()
    import qt

    slicer.mrmlScene = slicer.vtkMRMLScene()
    with tempfile.TemporaryDirectory() as folder:
        os.environ["BRAINGEN3D_BUNDLE"] = str(write_fake_bundle(Path(folder) / "bundle"))
        worker = [sys.executable, str(HERE / "bg3d_standin_worker.py"), "--mode", "ok", "--step-seconds", "0.1"]
        widget = make_panel(worker, Path(folder))
        process_events_until(lambda: widget.sections[0].device_info is not None, 30)
        ui = widget.ui
        ui.modalityComboBox.setCurrentIndex(2)
        ui.ageSpinBox.setValue(72)
        ui.sexComboBox.setCurrentIndex(1)
        ui.ventriclesComboBox.setCurrentIndex(2)
        ui.lesionsComboBox.setCurrentIndex(3)
        ui.negativePromptTextEdit.setPlainText("motion artifacts, noise")
        ui.seedSpinBox.setValue(1234)
        ui.stepsSpinBox.setValue(20)
        ui.generateButton.click()
        process_events_until(lambda: not widget.logic.busy, 60)
        width = 460
        layout = widget.parent.layout()
        height = layout.totalHeightForWidth(width) if layout.hasHeightForWidth() else widget.parent.sizeHint().height()
        widget.parent.resize(width, max(height, widget.parent.minimumSizeHint().height()))
        process_events_until(lambda: True, 1)
        image = widget.parent.grab()
        output.parent.mkdir(parents=True, exist_ok=True)
        assert image.save(str(output), "PNG"), f"could not write {output}"
        widget.cleanup()
        widget.parent.close()
    qt.QApplication.instance().processEvents()
    return output


if __name__ == "__main__":
    print(render(Path(sys.argv[1] if len(sys.argv) > 1 else "panel.png")))
