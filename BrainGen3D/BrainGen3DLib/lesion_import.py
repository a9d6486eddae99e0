"""Turning an inpainting result into MRML nodes: a new volume and a new segmentation holding the lesion.

The worker writes two NIfTI files on the source volume's grid: the inpainted volume (role
``volume``) and the binary lesion mask (role ``lesion_mask``). They become

* a new scalar volume node, with the source's window/level and parent transform;
* a new segmentation node with one segment, named and coded like the engine's exports
  (``braingen3d.export.segments.LESION_SEGMENT``: SNOMED CT "Morphologically Abnormal Structure /
  Lesion" in "Cerebral White Matter"), whose reference geometry is the new volume.

Both carry the provenance attributes (``BrainGen3D.task = inpaint``) and go into the subject-hierarchy
folder "BrainGen3D". The source volume is never modified. An import is all or nothing.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .i18n import _
from .provenance import set_provenance
from .scene_import import (
    ImportOptions,
    checked_output_path,
    has_slicer_app,
    load_volume,
    place_in_folder,
    remove_volume,
)
from .volume_geometry import matrix_from_array, voxel_shape

logger = logging.getLogger(__name__)

LESION_REFERENCE_ROLE = "BrainGen3DLesionSegmentation"
"""Node reference from an inpainted volume to its lesion segmentation (the export section follows it)."""


@dataclass
class LesionSegmentSpec:
    """How the lesion segment is named, coloured and coded."""

    segment_id: str
    name: str
    color: tuple[float, float, float]
    terminology: str


def lesion_segment_spec() -> LesionSegmentSpec:
    """The engine's lesion segment description (the same codes as its .seg.nrrd and DICOM SEG exports)."""
    from braingen3d.export.segments import LESION_SEGMENT

    return LesionSegmentSpec(LESION_SEGMENT.segment_id, LESION_SEGMENT.name, tuple(LESION_SEGMENT.color),
                             LESION_SEGMENT.slicer_terminology_entry())


@dataclass
class InpaintNodes:
    """The nodes one inpainting added: the new volume and its lesion segmentation."""

    volume: Any
    segmentation: Any


def outputs_by_role(outputs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``volume`` and ``lesion_mask`` outputs of an inpainting result.

    Raises:
        ValueError: either is missing or given twice.
    """
    found: dict[str, list[dict[str, Any]]] = {"volume": [], "lesion_mask": []}
    for output in outputs:
        if output.get("role") in found:
            found[output["role"]].append(output)
    for role, items in found.items():
        if len(items) != 1:
            raise ValueError(_("The inpainting result should hold one '{role}' output, not {n}.").format(
                role=role, n=len(items)))
    return found["volume"][0], found["lesion_mask"][0]


def _set_terminology(segment, entry: str) -> None:
    if hasattr(segment, "SetTerminology"):
        segment.SetTerminology(entry)
    else:  # Slicer before 5.8 keeps the entry as a tag
        segment.SetTag(segment.GetTerminologyEntryTagName(), entry)


def segmentation_from_mask(scene, path: os.PathLike, name: str, reference_volume, spec: LesionSegmentSpec):
    """A new segmentation node whose one segment is the non-zero voxels of the mask file ``path``.

    Args:
        scene: the MRML scene.
        path: a NIfTI mask (non-zero = lesion).
        name: the node name.
        reference_volume: the volume whose grid the segmentation uses as reference geometry.
        spec: the segment's id, name, colour and terminology.
    """
    import nibabel as nib
    import slicer
    import vtk
    from vtk.util import numpy_support

    image = nib.load(str(path))
    mask = np.asanyarray(image.dataobj)
    if mask.ndim == 4 and mask.shape[3] == 1:
        mask = mask[..., 0]
    if mask.ndim != 3:
        raise ValueError(_("The lesion mask {path} is not a 3D image.").format(path=path))
    labelmap = slicer.vtkOrientedImageData()
    labelmap.SetDimensions(*mask.shape)
    labelmap.AllocateScalars(vtk.VTK_UNSIGNED_CHAR, 1)
    numpy_support.vtk_to_numpy(labelmap.GetPointData().GetScalars())[:] = (mask != 0).transpose(2, 1, 0).ravel()
    labelmap.SetImageToWorldMatrix(matrix_from_array(np.asarray(image.affine, dtype=float)))

    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
    node.CreateDefaultDisplayNodes()
    node.SetReferenceImageGeometryParameterFromVolumeNode(reference_volume)
    segment_id = node.GetSegmentation().AddEmptySegment(spec.segment_id, spec.name, list(spec.color))
    mode = slicer.vtkSlicerSegmentationsModuleLogic.MODE_REPLACE
    if not slicer.vtkSlicerSegmentationsModuleLogic.SetBinaryLabelmapToSegment(labelmap, node, segment_id, mode):
        raise ValueError(_("The lesion mask {path} could not be put into a segment.").format(path=path))
    _set_terminology(node.GetSegmentation().GetSegment(segment_id), spec.terminology)
    return node


def copy_display(source, target) -> None:
    """Give ``target`` the window/level and colour map of ``source`` (so the two compare at a glance)."""
    source_display, target_display = source.GetDisplayNode(), target.GetDisplayNode()
    if source_display is None or target_display is None:
        return
    target_display.SetAutoWindowLevel(False)
    target_display.SetWindowLevel(source_display.GetWindow(), source_display.GetLevel())
    if source_display.GetColorNodeID():
        target_display.SetAndObserveColorNodeID(source_display.GetColorNodeID())


def inpainted_names(scene, source, seed: Any) -> tuple[str, str]:
    """Unique node names for the new volume and its lesion segmentation."""
    base = f"{source.GetName()} + lesion [seed {seed}]"
    return scene.GenerateUniqueName(base), scene.GenerateUniqueName(f"{base} mask")


def import_inpaint_outputs(scene, outputs: list[dict[str, Any]], output_dir: os.PathLike, source,
                           options: ImportOptions | None = None,
                           source_provenance: dict[str, Any] | None = None) -> InpaintNodes:
    """Add the inpainted volume and its lesion segmentation to ``scene``, or nothing.

    Args:
        scene: the MRML scene.
        outputs: the ``outputs`` of the worker's ``result`` event.
        output_dir: the folder the worker was told to write into; outputs elsewhere are refused.
        source: the volume node that was inpainted (left unchanged).
        options: placement options (bundle path and device recorded on the nodes; show).
        source_provenance: the source's own record when BrainGen3D made it; kept in both new records
            as ``source_provenance``, so a lesion in a generated brain traces back to that generation.

    Raises:
        ValueError: an output is missing, outside ``output_dir``, or not on the source's grid.
    """
    options = options or ImportOptions()
    volume_output, mask_output = outputs_by_role(outputs)
    volume_path = checked_output_path(volume_output["path"], output_dir)
    mask_path = checked_output_path(mask_output["path"], output_dir)
    provenance = dict(volume_output.get("provenance") or {})
    mask_provenance = dict(mask_output.get("provenance") or {})
    if source_provenance:
        provenance["source_provenance"] = mask_provenance["source_provenance"] = source_provenance
    volume_name, mask_name = inpainted_names(scene, source, provenance.get("seed", "?"))
    spec = lesion_segment_spec()
    created = []
    try:
        volume = load_volume(scene, volume_path, volume_name)
        created.append(volume)
        if voxel_shape(volume) != voxel_shape(source):
            raise ValueError(_("The inpainted volume has a {got} grid but '{name}' has {want}.").format(
                got=voxel_shape(volume), name=source.GetName(), want=voxel_shape(source)))
        volume.SetAndObserveTransformNodeID(source.GetTransformNodeID())
        copy_display(source, volume)
        set_provenance(volume, provenance, options.bundle_path, options.requested_device)
        place_in_folder(scene, volume)

        segmentation = segmentation_from_mask(scene, mask_path, mask_name, volume, spec)
        created.append(segmentation)
        segmentation.SetAndObserveTransformNodeID(source.GetTransformNodeID())
        set_provenance(segmentation, mask_provenance, options.bundle_path, options.requested_device)
        place_in_folder(scene, segmentation)
        volume.SetNodeReferenceID(LESION_REFERENCE_ROLE, segmentation.GetID())
    except Exception:
        for node in reversed(created):
            remove_volume(scene, node)
        raise
    if options.show and has_slicer_app():
        import slicer

        slicer.util.setSliceViewerLayers(background=volume, fit=False)
    logger.info("Inpainted '%s' into '%s' with lesion segmentation '%s'", source.GetName(), volume.GetName(),
                segmentation.GetName())
    return InpaintNodes(volume, segmentation)
