"""World-defined head phantoms as MRML volume nodes, and the lesion regions tests draw on them.

The phantom is defined in RAS millimetres, so the same anatomy and the same lesion site can be sampled
on axis-aligned (RAS), LPS-flipped and oblique grids with anisotropic voxels; expectations are computed
analytically in RAS, never from the code under test.
"""

from __future__ import annotations

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

BRAIN_CENTRE = np.array([2.0, -14.0, 12.0])
BRAIN_SEMI_AXES = np.array([55.0, 70.0, 50.0])
WHITE_MATTER_SCALE = 0.7
SHAPE = (52, 56, 40)
SPACING = np.array([2.5, 3.0, 3.5])
LESION_SITE = BRAIN_CENTRE + np.array([18.0, 12.0, 9.0])  # off-centre: a mirrored grid would put it elsewhere


def rotation(z_deg: float, x_deg: float) -> np.ndarray:
    z, x = np.radians(z_deg), np.radians(x_deg)
    rz = np.array([[np.cos(z), -np.sin(z), 0], [np.sin(z), np.cos(z), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(x), -np.sin(x)], [0, np.sin(x), np.cos(x)]])
    return rz @ rx


ORIENTATIONS = {
    "ras": np.eye(3),
    "lps": np.diag([-1.0, -1.0, 1.0]),
    "oblique": rotation(25.0, -20.0) @ np.diag([-1.0, 1.0, 1.0]),  # rotated, with one axis flipped
}


def grid_affine(orientation: str, shape=SHAPE, spacing=SPACING, centre=BRAIN_CENTRE) -> np.ndarray:
    """A voxel-to-RAS matrix whose grid is centred on ``centre``."""
    affine = np.eye(4)
    affine[:3, :3] = ORIENTATIONS[orientation] @ np.diag(spacing)
    affine[:3, 3] = centre - affine[:3, :3] @ ((np.asarray(shape) - 1) / 2)
    return affine


def world_points(shape, affine) -> np.ndarray:
    """RAS of every voxel centre, shape (i, j, k, 3)."""
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1).astype(float)
    return ijk @ affine[:3, :3].T + affine[:3, 3]


def brain_mask(points: np.ndarray, scale: float = 1.0) -> np.ndarray:
    return ((((points - BRAIN_CENTRE) / (BRAIN_SEMI_AXES * scale)) ** 2).sum(-1)) < 1


def phantom(shape, affine, dtype=np.float32) -> np.ndarray:
    """Background 0, a grey shell of 300, white matter of 450, with a smooth texture; (i, j, k)."""
    points = world_points(shape, affine)
    image = np.where(brain_mask(points), 300.0, 0.0)
    image = np.where(brain_mask(points, WHITE_MATTER_SCALE), 450.0, image)
    image += np.where(image > 0, 25.0 * np.cos(points[..., 0] / 9.0) * np.sin(points[..., 1] / 13.0), 0.0)
    return image.astype(dtype)


def matrix(array: np.ndarray) -> vtk.vtkMatrix4x4:
    result = vtk.vtkMatrix4x4()
    for row in range(4):
        for column in range(4):
            result.SetElement(row, column, float(array[row, column]))
    return result


def add_volume(scene, orientation: str = "oblique", name: str = "T2 scan", dtype=np.float32, data=None,
               shape=SHAPE, spacing=SPACING):
    """A scalar volume node holding the phantom (or ``data``, (i, j, k)) on the named grid."""
    affine = grid_affine(orientation, shape, spacing)
    voxels = phantom(shape, affine, dtype) if data is None else data
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
    slicer.util.updateVolumeFromArray(node, np.ascontiguousarray(voxels.transpose(2, 1, 0)))
    node.SetIJKToRASMatrix(matrix(affine))
    node.CreateDefaultDisplayNodes()
    return node


def volume_affine(node) -> np.ndarray:
    result = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(result)
    return np.array([[result.GetElement(r, c) for c in range(4)] for r in range(4)])


def add_roi(scene, centre, size, axes: np.ndarray | None = None, name: str = "ROI"):
    """A box ROI at ``centre`` (RAS) with edge lengths ``size`` along the columns of ``axes`` (a rotation)."""
    roi = scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", name)
    object_to_node = np.eye(4)
    object_to_node[:3, :3] = np.eye(3) if axes is None else axes
    object_to_node[:3, 3] = centre
    roi.GetObjectToNodeMatrix().DeepCopy(matrix(object_to_node))
    roi.SetSize(*[float(s) for s in size])
    return roi


def in_box(points: np.ndarray, centre, size, axes: np.ndarray | None = None) -> np.ndarray:
    """Which RAS points lie inside the box (the analytic expectation)."""
    axes = np.eye(3) if axes is None else axes
    local = (points - np.asarray(centre)) @ axes  # coordinates along the box's axes
    return np.all(np.abs(local) <= np.asarray(size) / 2.0, axis=-1)


def paint_sphere(segmentation_node, segment_id: str, shape, affine, centre, radius: float) -> np.ndarray:
    """Write a sphere into the segment on the grid (``shape``, ``affine``), as the sphere brush would.

    Returns:
        the painted voxels, (i, j, k), on that grid.
    """
    sphere = np.linalg.norm(world_points(shape, affine) - np.asarray(centre), axis=-1) <= radius
    image = slicer.vtkOrientedImageData()
    image.SetDimensions(*shape)
    image.AllocateScalars(vtk.VTK_UNSIGNED_CHAR, 1)
    numpy_support.vtk_to_numpy(image.GetPointData().GetScalars())[:] = sphere.transpose(2, 1, 0).ravel()
    image.SetImageToWorldMatrix(matrix(affine))
    assert slicer.vtkSlicerSegmentationsModuleLogic.SetBinaryLabelmapToSegment(
        image, segmentation_node, segment_id, slicer.vtkSlicerSegmentationsModuleLogic.MODE_REPLACE)
    return sphere


def voxels(node) -> np.ndarray:
    """A volume node's voxels in (i, j, k) order (a copy)."""
    return slicer.util.arrayFromVolume(node).transpose(2, 1, 0).copy()
