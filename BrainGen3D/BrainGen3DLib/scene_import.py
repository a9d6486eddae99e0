"""Turning the worker's NIfTI outputs into MRML nodes.

In the Slicer application a volume is loaded with ``slicer.util.loadVolume`` (Slicer's own reader);
without the application (slicer-core, tests) it is built from nibabel: the nibabel array is (i, j, k)
and a Slicer volume array is (k, j, i), and the NIfTI affine becomes the node's IJK-to-RAS matrix.
Either way the node is named from the prompt, gets an MRI window/level, the provenance attributes and
a place in the subject-hierarchy folder "BrainGen3D". An import is all or nothing.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .i18n import _
from .provenance import set_provenance

logger = logging.getLogger(__name__)

FOLDER_NAME = "BrainGen3D"
MAX_NAME_LENGTH = 48
DANGLING_WORDS = {"a", "an", "and", "of", "the", "with"}
VOLUME_RENDERING_PRESET = "MR-Default"
WINDOW_PERCENTILES = (0.5, 99.5)


def has_slicer_app() -> bool:
    """Whether this runs inside the Slicer application (not slicer-core alone)."""
    import slicer

    return hasattr(slicer, "app") and slicer.app is not None


def volume_name(prompt: str, seed: Any, max_length: int = MAX_NAME_LENGTH) -> str:
    """A short node name from the prompt: letters, digits, spaces and hyphens, cut at a word end.

    Args:
        prompt: the prompt text.
        seed: the volume's seed, appended so volumes of one prompt stay apart.
        max_length: the longest prompt part kept.

    Returns:
        e.g. ``"FLAIR MRI of a 72-year-old woman with enlarged [seed 42]"`` (never ending on "with").
    """
    text = re.sub(r"[^\w\s-]", " ", prompt or "", flags=re.UNICODE)
    text = re.sub(r"\s+", " ", text).strip() or "BrainGen3D"
    if len(text) > max_length:
        words = text[:max_length + 1].split(" ")[:-1] or [text[:max_length]]
        while len(words) > 1 and words[-1].lower() in DANGLING_WORDS:
            words.pop()
        text = " ".join(words).rstrip(" -")
    return f"{text} [seed {seed}]"


@dataclass
class ImportOptions:
    """How to place imported volumes.

    Attributes:
        show: show the last volume in the slice views (application only).
        show_in_3d: also show it with volume rendering (application only).
        bundle_path: the bundle folder the request named (None = the engine's default), recorded on
            each node so that "Regenerate" can use the same bundle.
        requested_device: the device the panel asked for.
    """

    show: bool = True
    show_in_3d: bool = False
    bundle_path: str | None = None
    requested_device: str | None = None


def checked_output_path(path: str, output_dir: str | os.PathLike) -> Path:
    """The worker's output ``path``, refused unless it is an existing file inside ``output_dir``."""
    resolved = Path(path).resolve()
    root = Path(output_dir).resolve()
    if root not in resolved.parents:
        raise ValueError(_("The worker reported an output outside its output folder: {path}").format(path=path))
    if not resolved.is_file():
        raise ValueError(_("The worker reported an output that does not exist: {path}").format(path=path))
    return resolved


def _matrix_from_array(array: np.ndarray):
    import vtk

    matrix = vtk.vtkMatrix4x4()
    for row in range(4):
        for column in range(4):
            matrix.SetElement(row, column, float(array[row, column]))
    return matrix


def _read_nifti_without_app(scene, path: Path, name: str):
    import nibabel as nib
    import slicer

    image = nib.load(str(path))
    data = np.asarray(image.dataobj, dtype=np.float32)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ValueError(_("{path} is not a 3D volume (shape {shape}).").format(path=path, shape=data.shape))
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
    slicer.util.updateVolumeFromArray(node, np.ascontiguousarray(data.transpose(2, 1, 0)))
    node.SetIJKToRASMatrix(_matrix_from_array(np.asarray(image.affine, dtype=float)))
    node.CreateDefaultDisplayNodes()
    return node


def _load_with_app(path: Path, name: str):
    import slicer

    node = slicer.util.loadVolume(str(path), properties={"name": name, "show": False})
    # The file lives in a temporary folder that is deleted after import; without a storage node
    # Slicer treats the volume as unsaved and offers to save it with the scene.
    storage = node.GetStorageNode()
    if storage is not None:
        node.SetAndObserveStorageNodeID(None)
        slicer.mrmlScene.RemoveNode(storage)
    return node


def load_volume(scene, path: Path, name: str):
    """Load the NIfTI ``path`` into ``scene`` as a scalar volume node called ``name``."""
    if has_slicer_app():
        return _load_with_app(path, name)
    return _read_nifti_without_app(scene, path, name)


def set_mri_window_level(node) -> tuple[float, float]:
    """Window/level from the 0.5th–99.5th percentiles of the foreground; returns (min, max)."""
    import slicer

    values = slicer.util.arrayFromVolume(node)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        low, high = 0.0, 1.0
    else:
        floor = finite.min() + 0.05 * (finite.max() - finite.min())
        foreground = finite[finite > floor]
        low, high = np.percentile(foreground if foreground.size else finite, WINDOW_PERCENTILES)
        if not high > low:
            high = low + 1.0
    display = node.GetDisplayNode()
    if display is None:
        node.CreateDefaultDisplayNodes()
        display = node.GetDisplayNode()
    display.SetAutoWindowLevel(False)
    display.SetWindowLevelMinMax(float(low), float(high))
    if display.GetColorNodeID() is None:
        display.SetAndObserveColorNodeID("vtkMRMLColorTableNodeGrey")
    return float(low), float(high)


def place_in_folder(scene, node, folder_name: str = FOLDER_NAME) -> int:
    """Put ``node`` in the subject-hierarchy folder ``folder_name`` under the scene; returns the folder item."""
    import slicer

    hierarchy = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    scene_item = hierarchy.GetSceneItemID()
    folder = hierarchy.GetItemChildWithName(scene_item, folder_name)
    if not folder:
        folder = hierarchy.CreateFolderItem(scene_item, folder_name)
    item = hierarchy.GetItemByDataNode(node)
    if item:
        hierarchy.SetItemParent(item, folder)
    else:
        hierarchy.CreateItem(folder, node)
    return folder


def show_volume(node, show_in_3d: bool = False) -> None:
    """Show ``node`` in the slice views, and in 3D with an MR preset (application only)."""
    if not has_slicer_app():
        return
    import slicer

    slicer.util.setSliceViewerLayers(background=node, fit=True)
    if show_in_3d:
        logic = slicer.modules.volumerendering.logic()
        display = logic.CreateDefaultVolumeRenderingNodes(node)
        preset = logic.GetPresetByName(VOLUME_RENDERING_PRESET)
        if preset is not None:
            display.GetVolumePropertyNode().Copy(preset)
        display.SetVisibility(True)
        slicer.util.resetThreeDViews()


def remove_volume(scene, node) -> None:
    """Remove ``node`` with its display and storage nodes."""
    dependents = [node.GetNthDisplayNode(i) for i in range(node.GetNumberOfDisplayNodes())]
    dependents.append(node.GetStorageNode())
    scene.RemoveNode(node)
    for dependent in dependents:
        if dependent is not None and scene.IsNodePresent(dependent):
            scene.RemoveNode(dependent)


def import_outputs(scene, outputs: list[dict[str, Any]], output_dir: str | os.PathLike,
                   options: ImportOptions | None = None) -> list:
    """Import every output of a worker result, or none of them.

    Args:
        scene: the MRML scene.
        outputs: the ``outputs`` of the worker's ``result`` event (``path`` and ``provenance``).
        output_dir: the folder the worker was told to write into; outputs elsewhere are refused.
        options: placement options.

    Returns:
        the new scalar volume nodes, in output order.

    Raises:
        ValueError: an output is missing, outside ``output_dir`` or not a 3D volume; nothing is added.
    """
    options = options or ImportOptions()
    if not outputs:
        raise ValueError(_("The worker's result lists no volumes."))
    nodes = []
    try:
        for output in outputs:
            path = checked_output_path(output["path"], output_dir)
            provenance = dict(output.get("provenance") or {})
            node = load_volume(scene, path, scene.GenerateUniqueName(volume_name(provenance.get("prompt", ""),
                                                                                 provenance.get("seed", "?"))))
            nodes.append(node)
            set_provenance(node, provenance, options.bundle_path, options.requested_device)
            set_mri_window_level(node)
            place_in_folder(scene, node)
    except Exception:
        for node in nodes:
            remove_volume(scene, node)
        raise
    if options.show:
        show_volume(nodes[-1], options.show_in_3d)
    return nodes
