"""Render the real BrainGen3D panel offscreen after a (stand-in) generation and save it as a PNG.

    python Testing/slicer/module/render_panel_screenshot.py docs/images/panel.png [--bundle DIR]

This is how docs/images/panel.png is made: the widget is the module's own (its .ui and Python), shown
through the qt_compat stand-ins. Without ``--bundle`` the worker is ``bg3d_standin_worker.py`` and the
bundle card a sample, so that no model is needed (the test suite does this). With ``--bundle DIR`` the
panel shows that bundle's card and the real engine worker (``python -m braingen3d.worker``) generates
the volume. CTK's collapsible buttons are drawn by the minimal stand-in, so they look plainer than in Slicer.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[2] / "BrainGen3D")]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def render(output: Path, bundle: Path | None = None) -> Path:
    """Build the panel, run one generation (stand-in, or the real worker on ``bundle``), grab it into ``output``."""
    import slicer
    from bg3d_gui import make_panel, process_events_until, start_qt, write_fake_bundle

    start_qt()
    import qt

    slicer.mrmlScene = slicer.vtkMRMLScene()
    with tempfile.TemporaryDirectory() as folder:
        if bundle is None:
            os.environ["BRAINGEN3D_BUNDLE"] = str(write_fake_bundle(Path(folder) / "bundle"))
            worker = [sys.executable, str(HERE / "bg3d_standin_worker.py"), "--mode", "ok", "--step-seconds", "0.1"]
        else:
            os.environ["BRAINGEN3D_BUNDLE"] = str(Path(bundle).resolve())
            worker = [sys.executable, "-m", "braingen3d.worker"]
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
        process_events_until(lambda: not widget.logic.busy, 60 if bundle is None else 600)
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
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("output", nargs="?", default="panel.png")
    parser.add_argument("--bundle", type=Path, default=None, help="a real bundle folder (real worker, real card)")
    arguments = parser.parse_args()
    print(render(Path(arguments.output), arguments.bundle))
