"""Lesion regions (ROI boxes, painted segments) → masks on the volume's grid, checked against RAS geometry."""

from __future__ import annotations

import lesion_phantoms as ph
import nibabel as nib
import numpy as np
import pytest

from BrainGen3DLib.lesion_mask import LesionRegion, RegionError, roi_mask, segment_mask
from BrainGen3DLib.nifti_files import file_stem, write_nifti
from BrainGen3DLib.volume_geometry import ijk_to_ras, voxels_ijk

ROI_SIZE = (17.0, 11.0, 14.0)


def linear_transform(scene, rotation_deg: float, translation) -> object:
    node = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "moved")
    to_parent = np.eye(4)
    to_parent[:3, :3] = ph.rotation(rotation_deg, 0.0)
    to_parent[:3, 3] = translation
    node.SetMatrixTransformToParent(ph.matrix(to_parent))
    return node, to_parent


@pytest.mark.parametrize("orientation", ["ras", "lps", "oblique"])
def test_roi_mask_is_the_voxels_whose_centres_are_in_the_box(scene, orientation):
    volume = ph.add_volume(scene, orientation)
    affine = ph.volume_affine(volume)
    axes = ph.rotation(30.0, 10.0) if orientation == "oblique" else None
    roi = ph.add_roi(scene, ph.LESION_SITE, ROI_SIZE, axes)

    mask = roi_mask(volume, roi)

    expected = ph.in_box(ph.world_points(ph.SHAPE, affine), ph.LESION_SITE, ROI_SIZE, axes)
    assert mask.shape == ph.SHAPE and mask.dtype == bool
    assert np.array_equal(mask, expected)
    # About the box's volume in voxels, centred on the lesion site.
    voxel_volume = np.prod(ph.SPACING)
    assert 0.6 < mask.sum() * voxel_volume / np.prod(ROI_SIZE) < 1.4
    centroid = ph.world_points(ph.SHAPE, affine)[mask].mean(axis=0)
    assert np.linalg.norm(centroid - ph.LESION_SITE) < ph.SPACING.max()


def test_roi_and_volume_under_linear_transforms_meet_in_world_space(scene):
    volume = ph.add_volume(scene, "lps")
    volume_transform, volume_to_world = linear_transform(scene, 12.0, [4.0, -6.0, 2.0])
    volume.SetAndObserveTransformNodeID(volume_transform.GetID())
    roi = ph.add_roi(scene, ph.LESION_SITE, ROI_SIZE)
    roi_transform, roi_to_world = linear_transform(scene, -20.0, [-3.0, 5.0, 7.0])
    roi.SetAndObserveTransformNodeID(roi_transform.GetID())

    mask = roi_mask(volume, roi)

    world = ph.world_points(ph.SHAPE, volume_to_world @ ph.volume_affine(volume))
    box_centre = roi_to_world[:3, :3] @ ph.LESION_SITE + roi_to_world[:3, 3]
    expected = ph.in_box(world, box_centre, ROI_SIZE, roi_to_world[:3, :3])
    assert expected.sum() > 50
    assert np.array_equal(mask, expected)


def test_inside_out_roi_selects_everything_else(scene):
    volume = ph.add_volume(scene, "ras")
    roi = ph.add_roi(scene, ph.LESION_SITE, ROI_SIZE)
    inside = roi_mask(volume, roi)
    roi.SetInsideOut(True)
    assert np.array_equal(roi_mask(volume, roi), ~inside)


def test_unusable_regions_are_refused_with_the_reason(scene):
    volume = ph.add_volume(scene, "oblique", name="scan")
    outside = ph.add_roi(scene, ph.BRAIN_CENTRE + [500.0, 0.0, 0.0], ROI_SIZE, name="far away")
    with pytest.raises(RegionError, match="ROI 'far away' covers no voxel of 'scan'"):
        LesionRegion(roi=outside).mask(volume)
    flat = ph.add_roi(scene, ph.LESION_SITE, (10.0, 0.0, 10.0), name="flat")
    with pytest.raises(RegionError, match="has no size"):
        LesionRegion(roi=flat).mask(volume)
    with pytest.raises(RegionError, match="No lesion region"):
        LesionRegion().mask(volume)
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "seeds")
    segmentation.GetSegmentation().AddEmptySegment("seed", "Lesion seed")
    with pytest.raises(RegionError, match="segment 'Lesion seed' covers no voxel"):
        LesionRegion(segmentation=segmentation, segment_id="seed").mask(volume)
    with pytest.raises(RegionError, match="no segment 'missing'"):
        LesionRegion(segmentation=segmentation, segment_id="missing").mask(volume)


def test_a_volume_under_a_non_linear_transform_is_refused(scene):
    volume = ph.add_volume(scene, "ras", name="warped")
    grid = scene.AddNewNodeByClass("vtkMRMLGridTransformNode", "warp")
    volume.SetAndObserveTransformNodeID(grid.GetID())
    roi = ph.add_roi(scene, ph.LESION_SITE, ROI_SIZE)
    with pytest.raises(RegionError, match="non-linear transform 'warp'.*Harden"):
        LesionRegion(roi=roi).mask(volume)


def test_painted_segment_on_the_volume_grid_is_the_mask_exactly(scene):
    volume = ph.add_volume(scene, "oblique")
    affine = ph.volume_affine(volume)
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "seeds")
    segmentation.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    first = segmentation.GetSegmentation().AddEmptySegment("first")
    second = segmentation.GetSegmentation().AddEmptySegment("second")
    painted = ph.paint_sphere(segmentation, second, ph.SHAPE, affine, ph.LESION_SITE, 8.0)
    other = ph.paint_sphere(segmentation, first, ph.SHAPE, affine, ph.BRAIN_CENTRE - [15.0, 0.0, 0.0], 6.0)
    assert segmentation.GetSegmentation().GetNumberOfLayers() == 1, "both segments share one labelmap"

    assert np.array_equal(segment_mask(volume, segmentation, second), painted)
    assert np.array_equal(segment_mask(volume, segmentation, first), other)


def test_segment_painted_on_another_grid_is_resampled_onto_the_volume(scene):
    """Nearest neighbour: a volume voxel is in the mask when the painted voxel nearest its centre is."""
    volume = ph.add_volume(scene, "oblique")
    fine_shape, fine_spacing = (70, 80, 60), np.array([1.0, 1.2, 1.1])
    fine_affine = ph.grid_affine("ras", fine_shape, fine_spacing, centre=ph.LESION_SITE)
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "seeds")
    segment = segmentation.GetSegmentation().AddEmptySegment("seed")
    radius = 9.0
    ph.paint_sphere(segmentation, segment, fine_shape, fine_affine, ph.LESION_SITE, radius)

    mask = segment_mask(volume, segmentation, segment)

    distance = np.linalg.norm(ph.world_points(ph.SHAPE, ph.volume_affine(volume)) - ph.LESION_SITE, axis=-1)
    half_diagonal = np.linalg.norm(fine_spacing) / 2
    assert mask.sum() > 20
    assert distance[mask].max() <= radius + half_diagonal
    assert np.all(mask[distance <= radius - half_diagonal])


def test_segmentation_under_a_transform_is_placed_in_world_space(scene):
    volume = ph.add_volume(scene, "ras")
    affine = ph.volume_affine(volume)
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "seeds")
    segment = segmentation.GetSegmentation().AddEmptySegment("seed")
    painted = ph.paint_sphere(segmentation, segment, ph.SHAPE, affine, ph.LESION_SITE, 7.0)
    # Shift the segmentation by whole voxels, so the resampled sphere is the painted one, moved.
    shift_voxels = np.array([3, -2, 1])
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "shift")
    to_parent = np.eye(4)
    to_parent[:3, 3] = affine[:3, :3] @ shift_voxels
    transform.SetMatrixTransformToParent(ph.matrix(to_parent))
    segmentation.SetAndObserveTransformNodeID(transform.GetID())

    mask = segment_mask(volume, segmentation, segment)

    assert np.array_equal(mask, np.roll(painted, tuple(shift_voxels), axis=(0, 1, 2)))


def test_written_files_place_voxels_where_slicer_does(scene, tmp_path):
    """The NIfTI sent to the worker reads back (nibabel and Slicer's own reader) with the node's voxels and grid."""
    volume = ph.add_volume(scene, "oblique", dtype=np.int16)
    path = write_nifti(tmp_path / f"{file_stem(volume.GetName())}.nii", voxels_ijk(volume), ijk_to_ras(volume))
    assert path.name == "T2_scan.nii"

    image = nib.load(path)
    assert image.get_data_dtype() == np.int16
    np.testing.assert_allclose(image.affine, ph.volume_affine(volume), atol=1e-4)
    assert np.array_equal(np.asanyarray(image.dataobj), ph.phantom(ph.SHAPE, ph.volume_affine(volume), np.int16))
    assert int(image.header["sform_code"]) == 1 and int(image.header["qform_code"]) == 1

    reread = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "reread")
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storage.SetFileName(str(path))
    reread.SetAndObserveStorageNodeID(storage.GetID())
    assert storage.ReadData(reread)
    # This grid is left-handed, which Slicer's reader stores with the k axis reversed; so compare voxel by
    # voxel in world space: each reread voxel centre is a source voxel centre holding the same value.
    reread_to_source = np.linalg.inv(ph.volume_affine(volume)) @ ph.volume_affine(reread)
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in ph.SHAPE], indexing="ij"), -1).reshape(-1, 3)
    source_ijk = ijk @ reread_to_source[:3, :3].T + reread_to_source[:3, 3]
    np.testing.assert_allclose(source_ijk, np.round(source_ijk), atol=1e-3)
    source_ijk = np.round(source_ijk).astype(int)
    assert source_ijk.min() == 0 and np.all(source_ijk.max(axis=0) == np.asarray(ph.SHAPE) - 1)
    assert np.array_equal(voxels_ijk(reread)[tuple(ijk.T)], voxels_ijk(volume)[tuple(source_ijk.T)])


def test_written_files_carry_provenance_when_given(tmp_path):
    from BrainGen3DLib.storage_provenance import sidecar_path

    record = {"synthetic": True, "generator": "BrainGen3D", "bundle_id": "b", "seed": 3, "prompt": "T1"}
    path = write_nifti(tmp_path / "v.nii.gz", np.zeros((3, 4, 5), np.float32), np.eye(4), record)
    image = nib.load(path)
    assert bytes(image.header["descrip"]).startswith(b"SYNTHETIC BrainGen3D b seed=3")
    assert any(b'"prompt": "T1"' in ext.get_content() for ext in image.header.extensions)
    assert sidecar_path(path).read_text().count('"seed": 3') == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.json", "v.nii.gz"], "no temporary file is left"
