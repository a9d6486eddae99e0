"""Building and driving the real BrainGen3D panel offscreen (PySide6 + qt_compat), as a user would."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
QT_COMPAT = HERE / "qt_compat"
PROBE_ANSWER = {"engine_version": "0.1.0", "devices": {"cuda_available": False, "cpu_threads": 2, "torch": "2.13.0+cpu"}}


def start_qt():
    """The QApplication (offscreen), with the qt/ctk/slicer stand-ins installed."""
    if str(QT_COMPAT) not in sys.path:
        sys.path.insert(0, str(QT_COMPAT))
    import qt

    app = qt.QApplication.instance() or qt.QApplication(["BrainGen3D tests"])
    import slicer_standins

    slicer_standins.install()
    return app


def fake_probe_command() -> list[str]:
    """A stand-in for the worker's ``probe`` task that answers at once (no torch import)."""
    events = [{"event": "started", "pid": 0}, {"event": "result", "outputs": [PROBE_ANSWER]}, {"event": "done"}]
    script = "import sys; sys.stdin.read(); print(" + repr("\n".join(json.dumps(e) for e in events)) + ")"
    return [sys.executable, "-c", script]


def write_fake_bundle(folder: Path) -> Path:
    """A bundle folder with a config.json, a model card and weights files that hold a valid safetensors header
    and no tensors (enough for the panel's bundle card and its header checks)."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {"format_version": 1, "bundle_id": "braingen3d-small-mni2mm", "version": "1.0.0", "name": "BrainGen3D small",
              "spatial": {"shape": [80, 96, 80], "spacing": [2.0, 2.0, 2.0]}, "modalities": ["T1", "T2", "FLAIR", "PD"],
              "sampling_defaults": {"sampler": "dpm++", "steps": 25, "guidance_scale": 3.0},
              "capabilities": {"text": True, "inpaint": ["repaint"]}}
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (folder / "README.md").write_text("# BrainGen3D small\n\nText-conditioned latent diffusion model trained on a "
                                      "template-derived synthetic cohort (T1, T2, FLAIR, PD) at 2 mm.\n", encoding="utf-8")
    header = b"{}"
    for name in ("autoencoder.safetensors", "unet.safetensors"):
        (folder / name).write_bytes(len(header).to_bytes(8, "little") + header)
    return folder


def make_panel(worker_command: list[str] | None = None, work_root: Path | None = None,
               probe_command: list[str] | None = None, dependencies_ok: bool = True):
    """Create the module widget the way Slicer does (a parent panel, then ``setup()``)."""
    start_qt()
    import qt
    import slicer

    import BrainGen3D
    from BrainGen3DLib.devices import DeviceProbe
    from BrainGen3DLib.process import qt_timer_factory

    command = probe_command or fake_probe_command()
    BrainGen3D.BrainGen3DWidget.deviceProbeFactory = staticmethod(
        lambda: DeviceProbe(command, timer_factory=qt_timer_factory))
    parent = slicer.qMRMLWidget()
    parent.setLayout(qt.QVBoxLayout())
    parent.setMRMLScene(slicer.mrmlScene)
    widget = BrainGen3D.BrainGen3DWidget(parent)
    widget.setup()
    if worker_command is not None:
        widget.logic.worker_command = worker_command
    if work_root is not None:
        widget.logic.work_root = work_root
    for section in widget.sections:
        if hasattr(section, "check_dependencies"):
            section.check_dependencies = lambda *args: dependencies_ok
    parent.resize(440, 900)
    parent.show()
    return widget


def process_events_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.01) -> float:
    """Run the Qt event loop until ``predicate()`` holds; returns the seconds it took.

    Raises:
        TimeoutError: the predicate did not hold within ``timeout`` seconds.
    """
    import qt

    app = qt.QApplication.instance()
    start = time.monotonic()
    while not predicate():
        app.processEvents()
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(interval)
    app.processEvents()
    return time.monotonic() - start


def type_text(widget, text: str) -> None:
    """Clear ``widget`` and type ``text`` into it key by key."""
    import qt
    from PySide6.QtTest import QTest

    widget.setFocus()
    widget.selectAll()
    QTest.keyClick(widget, qt.Qt.Key_Delete)
    QTest.keyClicks(widget, text)
