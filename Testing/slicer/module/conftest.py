"""Fixtures for the BrainGen3D Slicer module tests (no Slicer application needed).

* MRML comes from the ``slicer-core`` wheel (real vtkMRMLScene, nodes and storage nodes).
* Qt comes from PySide6 (offscreen) through ``qt_compat`` (see qt_compat/README.md), loaded only
  by the widget tests.
* The worker is either the real ``python -m braingen3d.worker`` with the shared ``tiny_bundle``
  (Testing/conftest.py), or ``bg3d_standin_worker.py``, which speaks the same protocol and can crash
  on demand.

These files sit in ``Testing/slicer/module/``, not in ``Testing/slicer/``: slicer-core's ``slicer``
package extends its ``__path__`` with every ``slicer`` folder on ``sys.path`` and imports each module
it finds there, and pytest puts ``Testing/`` on ``sys.path``. A module directly in
``Testing/slicer/`` would be imported as ``slicer.<name>`` by every ``import slicer``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
MODULE_DIR = REPO / "BrainGen3D"
STANDIN_WORKER = HERE / "bg3d_standin_worker.py"

for path in (MODULE_DIR, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


@pytest.fixture
def scene():
    """A fresh MRML scene, also installed as ``slicer.mrmlScene`` (slicer.util helpers use it).

    The segmentations logic is attached, as in Slicer, so that segmentation nodes get their converter rules.
    """
    import slicer

    mrml_scene = slicer.vtkMRMLScene()
    segmentations_logic = slicer.vtkSlicerSegmentationsModuleLogic()
    segmentations_logic.SetMRMLScene(mrml_scene)
    previous = getattr(slicer, "mrmlScene", None)
    slicer.mrmlScene = mrml_scene
    yield mrml_scene
    mrml_scene.Clear(1)
    segmentations_logic.SetMRMLScene(None)
    slicer.mrmlScene = previous


@pytest.fixture
def standin_command():
    """``standin_command(mode, step_seconds=0.01)`` → the stand-in worker's command line."""

    def command(mode: str = "ok", step_seconds: float = 0.01) -> list[str]:
        return [sys.executable, str(STANDIN_WORKER), "--mode", mode, "--step-seconds", str(step_seconds)]

    return command


@pytest.fixture
def work_root(tmp_path) -> Path:
    root = tmp_path / "work"
    root.mkdir()
    return root


def node_ids(scene) -> list[str]:
    """IDs of every node in ``scene``, to show a failed run changed nothing."""
    return [scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())]


@pytest.fixture
def scene_snapshot():
    return node_ids


os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
