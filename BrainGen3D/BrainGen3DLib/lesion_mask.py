"""Lesion regions drawn in Slicer → a binary mask on the voxel grid of the volume to edit.

Two kinds of region:

* a markups ROI box: a voxel is in the mask when its centre, in world RAS, lies inside the box. The
  box may be rotated (its own axes) and either node may sit under a linear transform;
* a segment of a segmentation node: its binary labelmap, taken in world coordinates (with the
  segmentation's parent transform applied) by ``vtkSlicerSegmentationsModuleLogic``, is resampled
  (nearest neighbour) onto the volume's grid with ``vtkOrientedImageDataResample``, so the
  segmentation may have another geometry or another transform than the volume.

Masks are boolean arrays in nibabel order (i, j, k) on the volume's own IJK grid, so they can be
written with the volume's IJK-to-RAS matrix as the NIfTI affine.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .i18n import _
from .logic import SettingsError
from .volume_geometry import (
    GeometryError,
    array_from_matrix,
    grid_centres,
    ijk_to_ras,
    matrix_from_array,
    node_to_world,
    voxel_shape,
)

# A voxel centre this close (mm) outside a face of the box still counts as inside: it absorbs the
# rounding of matrix products, so a centre exactly on a face is not lost to 1e-15 mm.
BOX_TOLERANCE_MM = 1e-6


class RegionError(SettingsError):
    """The lesion region cannot give a mask; the message names the problem and the fix."""


@dataclass
class LesionRegion:
    """Where the lesion goes: an ROI box, or one segment of a segmentation.

    Attributes:
        roi: a ``vtkMRMLMarkupsROINode``, or None.
        segmentation: a ``vtkMRMLSegmentationNode``, or None.
        segment_id: the segment of ``segmentation`` to use.
    """

    roi: object | None = None
    segmentation: object | None = None
    segment_id: str | None = None

    def describe(self) -> str:
        if self.roi is not None:
            return _("ROI '{name}'").format(name=self.roi.GetName())
        if self.segmentation is not None:
            segment = self.segmentation.GetSegmentation().GetSegment(self.segment_id or "")
            return _("segment '{name}'").format(name=segment.GetName() if segment else self.segment_id)
        return _("no region")

    def mask(self, volume_node) -> np.ndarray:
        """The non-empty boolean mask (i, j, k) of this region on ``volume_node``'s grid.

        Raises:
            RegionError: no region is set, it is unusable, or it covers no voxel of the volume.
        """
        try:
            if self.roi is not None:
                mask = roi_mask(volume_node, self.roi)
            elif self.segmentation is not None:
                mask = segment_mask(volume_node, self.segmentation, self.segment_id)
            else:
                raise RegionError(_("No lesion region is set. Place an ROI box or paint a segment first."))
        except GeometryError as exc:
            raise RegionError(str(exc)) from exc
        if not mask.any():
            raise RegionError(_("The {region} covers no voxel of '{volume}'. Move it onto the volume (inside the "
                                "brain), or paint the lesion region first.").format(
                region=self.describe(), volume=volume_node.GetName()))
        return mask


def roi_mask(volume_node, roi_node) -> np.ndarray:
    """Voxels of ``volume_node`` whose centres lie inside the ROI box (honouring its rotation and inside-out flag).

    Args:
        volume_node: a scalar volume node.
        roi_node: a ``vtkMRMLMarkupsROINode`` (box or bounding-box type).

    Returns:
        a boolean array (i, j, k) on the volume's grid.
    """
    shape = voxel_shape(volume_node)
    node_to_world(roi_node)  # refuses an ROI under a non-linear transform
    half = np.asarray(roi_node.GetSize(), dtype=float) / 2.0
    if not np.all(np.isfinite(half)) or np.any(half <= 0):
        raise RegionError(_("The ROI '{name}' has no size yet. Place it, or drag its handles to give it a size.")
                          .format(name=roi_node.GetName()))
    index_to_world = node_to_world(volume_node) @ ijk_to_ras(volume_node)
    object_to_world = array_from_matrix(roi_node.GetObjectToWorldMatrix())
    index_to_object = np.linalg.inv(object_to_world) @ index_to_world

    # Test only the voxels in the index-space bounding box of the ROI's corners.
    corners = np.array([[sx * half[0], sy * half[1], sz * half[2], 1.0]
                        for sx, sy, sz in itertools.product((-1, 1), repeat=3)])
    corner_indices = (np.linalg.inv(index_to_object) @ corners.T)[:3].T
    lower = np.maximum(np.floor(corner_indices.min(axis=0)).astype(int), 0)
    upper = np.minimum(np.ceil(corner_indices.max(axis=0)).astype(int), np.asarray(shape) - 1)
    mask = np.zeros(shape, dtype=bool)
    if np.all(lower <= upper):
        points, block = grid_centres(shape, index_to_object, lower, upper)
        inside = np.all(np.abs(points) <= half + BOX_TOLERANCE_MM, axis=1)
        mask[block] = inside.reshape(tuple(upper - lower + 1))
    if roi_node.GetInsideOut():
        mask = ~mask
    return mask


def segment_mask(volume_node, segmentation_node, segment_id: str | None) -> np.ndarray:
    """The voxels of ``volume_node``'s grid that the segment covers (nearest-neighbour resampling).

    Args:
        volume_node: a scalar volume node.
        segmentation_node: a ``vtkMRMLSegmentationNode`` with a binary labelmap representation.
        segment_id: the segment to use.

    Returns:
        a boolean array (i, j, k) on the volume's grid.
    """
    import slicer
    from vtk.util import numpy_support

    shape = voxel_shape(volume_node)
    segment = segmentation_node.GetSegmentation().GetSegment(segment_id or "")
    if segment is None:
        raise RegionError(_("Segmentation '{name}' has no segment '{segment}'. Select the segment to use in the "
                            "segment editor.").format(name=segmentation_node.GetName(), segment=segment_id))
    labelmap = slicer.vtkOrientedImageData()
    if not slicer.vtkSlicerSegmentationsModuleLogic.GetSegmentBinaryLabelmapRepresentation(
            segmentation_node, segment_id, labelmap, True):
        raise RegionError(_("Segment '{segment}' has no binary labelmap (it may be a surface only). Paint it with "
                            "the segment editor, or convert it in the Segmentations module.").format(
            segment=segment.GetName()))
    extent = labelmap.GetExtent()
    if extent[1] < extent[0] or extent[3] < extent[2] or extent[5] < extent[4]:
        return np.zeros(shape, dtype=bool)

    # The labelmap comes in world coordinates (the segmentation's parent transform applied), so the
    # reference is the volume's grid in world coordinates too.
    reference = slicer.vtkOrientedImageData()
    reference.SetExtent(0, shape[0] - 1, 0, shape[1] - 1, 0, shape[2] - 1)
    reference.SetImageToWorldMatrix(matrix_from_array(node_to_world(volume_node) @ ijk_to_ras(volume_node)))
    resampled = slicer.vtkOrientedImageData()
    if not slicer.vtkOrientedImageDataResample.ResampleOrientedImageToReferenceOrientedImage(
            labelmap, reference, resampled, False, True):
        raise RegionError(_("Segment '{segment}' could not be resampled onto '{volume}'.").format(
            segment=segment.GetName(), volume=volume_node.GetName()))
    values = numpy_support.vtk_to_numpy(resampled.GetPointData().GetScalars())
    dimensions = resampled.GetDimensions()
    if tuple(dimensions) != shape:
        raise RegionError(_("Resampling segment '{segment}' gave a {got} grid instead of {want}.").format(
            segment=segment.GetName(), got=dimensions, want=shape))
    # Segments of one layer share a labelmap; this segment is the voxels holding its label value.
    return (values.reshape(shape[::-1]) == segment.GetLabelValue()).transpose(2, 1, 0).copy()

