"""The voxel grid of an MRML volume node, in the engine's conventions.

The engine works on arrays in nibabel order (i, j, k) with a 4x4 voxel-to-RAS affine
(docs/architecture.md). A Slicer volume node keeps its voxels as (k, j, i) and its grid as the
IJK-to-RAS matrix, possibly under a parent transform. These helpers convert at that boundary.
"""

from __future__ import annotations

import numpy as np

from .i18n import _


class GeometryError(ValueError):
    """A node's geometry cannot be used as it is; the message says why and what to do."""


def array_from_matrix(matrix) -> np.ndarray:
    """A ``vtkMatrix4x4`` as a 4x4 numpy array."""
    return np.array([[matrix.GetElement(row, column) for column in range(4)] for row in range(4)], dtype=float)


def matrix_from_array(array: np.ndarray):
    """A 4x4 numpy array as a ``vtkMatrix4x4``."""
    import vtk

    matrix = vtk.vtkMatrix4x4()
    for row in range(4):
        for column in range(4):
            matrix.SetElement(row, column, float(array[row, column]))
    return matrix


def ijk_to_ras(volume_node) -> np.ndarray:
    """The node's own IJK-to-RAS matrix (without any parent transform)."""
    import vtk

    matrix = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(matrix)
    return array_from_matrix(matrix)


def node_to_world(node) -> np.ndarray:
    """The linear transform from ``node``'s coordinates to world RAS (identity without a parent transform).

    Raises:
        GeometryError: the node is under a non-linear (e.g. grid or B-spline) transform.
    """
    transform = node.GetParentTransformNode()
    if transform is None:
        return np.eye(4)
    if not transform.IsTransformToWorldLinear():
        raise GeometryError(_("'{name}' is under the non-linear transform '{transform}'. Harden the transform "
                              "(Data module, right-click the node) or remove it first.").format(
            name=node.GetName(), transform=transform.GetName()))
    import vtk

    matrix = vtk.vtkMatrix4x4()
    transform.GetMatrixTransformToWorld(matrix)
    return array_from_matrix(matrix)


def voxel_shape(volume_node) -> tuple[int, int, int]:
    """The grid size (ni, nj, nk) of a volume node.

    Raises:
        GeometryError: the node has no voxels, or not a single scalar per voxel.
    """
    image = volume_node.GetImageData()
    if image is None or min(image.GetDimensions()) < 1:
        raise GeometryError(_("Volume '{name}' has no voxel data.").format(name=volume_node.GetName()))
    if image.GetNumberOfScalarComponents() != 1:
        raise GeometryError(_("Volume '{name}' has {n} values per voxel; choose a single-channel (scalar) volume.")
                            .format(name=volume_node.GetName(), n=image.GetNumberOfScalarComponents()))
    return tuple(int(n) for n in image.GetDimensions())


def voxels_ijk(volume_node) -> np.ndarray:
    """A copy of the node's voxels in nibabel order (i, j, k), in their stored data type."""
    import slicer

    voxel_shape(volume_node)
    return np.ascontiguousarray(slicer.util.arrayFromVolume(volume_node).transpose(2, 1, 0))


def grid_centres(shape: tuple[int, int, int], index_to_world: np.ndarray,
                 lower: np.ndarray | None = None, upper: np.ndarray | None = None) -> tuple[np.ndarray, tuple]:
    """World coordinates of the voxel centres of a block of the grid.

    Args:
        shape: the grid size (ni, nj, nk).
        index_to_world: 4x4 voxel-index-to-world matrix.
        lower, upper: inclusive index bounds of the block (default: the whole grid).

    Returns:
        ``(points, slices)``: an (n, 3) array of world points in C order over the block, and the index
        slices of that block.
    """
    lower = np.zeros(3, dtype=int) if lower is None else lower
    upper = np.asarray(shape) - 1 if upper is None else upper
    axes = [np.arange(lower[a], upper[a] + 1) for a in range(3)]
    ijk = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3).astype(float)
    points = ijk @ index_to_world[:3, :3].T + index_to_world[:3, 3]
    return points, tuple(slice(lower[a], upper[a] + 1) for a in range(3))
