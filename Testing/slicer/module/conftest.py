"""Fixtures for the BrainGen3D Slicer module tests (no Slicer application needed).

* MRML comes from the ``slicer-core`` wheel (real vtkMRMLScene, nodes and storage nodes).
* Qt comes from PySide6 (offscreen) through ``qt_compat`` (see qt_compat/README.md), loaded only
  by the widget tests.
* The worker is either the real ``python -m braingen3d.worker`` with a tiny random bundle, or
  ``bg3d_standin_worker.py``, which speaks the same protocol and can crash on demand.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MODULE_DIR = REPO / "BrainGen3D"
STANDIN_WORKER = HERE / "bg3d_standin_worker.py"

for path in (MODULE_DIR, HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


def real_worker_available() -> bool:
    return (REPO / "src" / "braingen3d" / "worker.py").is_file() or (REPO / "src" / "braingen3d" / "worker" / "__main__.py").is_file()


@pytest.fixture
def scene():
    """A fresh MRML scene, also installed as ``slicer.mrmlScene`` (slicer.util helpers use it)."""
    import slicer

    mrml_scene = slicer.vtkMRMLScene()
    previous = getattr(slicer, "mrmlScene", None)
    slicer.mrmlScene = mrml_scene
    yield mrml_scene
    mrml_scene.Clear(1)
    slicer.mrmlScene = previous


@pytest.fixture
def standin_command():
    """``standin_command(mode, step_seconds=0.01)`` → the stand-in worker's command line."""

    def command(mode: str = "ok", step_seconds: float = 0.01) -> list[str]:
        return [sys.executable, str(STANDIN_WORKER), "--mode", mode, "--step-seconds", str(step_seconds)]

    return command


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    """A random-weight bundle with the ``tiny`` preset (16³ voxels), made once per session."""
    from braingen3d.bundle import make_random_bundle

    return make_random_bundle(tmp_path_factory.mktemp("bundles") / "tiny", preset="tiny")


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
