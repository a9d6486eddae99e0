"""Model-grid choice and resampling between the user's grid and the model's, on RAS, LPS and oblique inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from braingen3d.core.geometry import Grid
from braingen3d.core.intensity import foreground_mask
from braingen3d.io.source import SourceImage
from braingen3d.pipelines.inpaint import MaskError, choose_model_grid
from braingen3d.pipelines.inpaint.inputs import prepare_inputs
from braingen3d.pipelines.inpaint.model_space import (
    build_model_view,
    mask_to_grid,
    resample_to_grid,
    sample_at_voxels,
    voxels_to_world,
)
from Testing.inpaint.inpaint_phantoms import BRAIN_CENTRE, ORIENTATIONS, make_case, world_coordinates

ORIENTATION_NAMES = list(ORIENTATIONS)


def grid_centre(grid: Grid) -> np.ndarray:
    return grid.affine[:3, :3] @ ((np.asarray(grid.shape) - 1) / 2) + grid.affine[:3, 3]


@pytest.mark.parametrize("orientation", ORIENTATION_NAMES)
def test_model_grid_keeps_bundle_spacing_and_axes_and_centres_on_the_head(tiny_pipeline, orientation):
    case = make_case(orientation)
    bundle_grid = tiny_pipeline.config.grid
    region = voxels_to_world(np.nonzero(case.mask), case.affine)
    grid = choose_model_grid(bundle_grid, case.volume.shape, case.affine, foreground_mask(case.volume), region)
    assert grid.shape == bundle_grid.shape
    np.testing.assert_allclose(grid.affine[:3, :3], bundle_grid.affine[:3, :3])
    # The foreground's bounding box is the phantom brain's, up to about one (oblique) voxel.
    assert np.linalg.norm(grid_centre(grid) - BRAIN_CENTRE) < 8.0


def test_volume_on_the_bundle_grid_is_used_without_resampling(tiny_pipeline):
    bundle_grid = tiny_pipeline.config.grid
    rng = np.random.default_rng(0)
    image = rng.random(bundle_grid.shape).astype(np.float32)
    mask = np.zeros(bundle_grid.shape, bool)
    mask[5:8, 6:9, 7:9] = True
    grid = choose_model_grid(bundle_grid, image.shape, bundle_grid.affine, image > 0.1,
                             voxels_to_world(np.nonzero(mask), bundle_grid.affine))
    assert grid is bundle_grid
    assert np.array_equal(resample_to_grid(image, bundle_grid.affine, grid), image)
    assert np.array_equal(mask_to_grid(mask, bundle_grid.affine, grid), mask)


def test_model_grid_shifts_to_contain_a_region_near_its_edge_and_refuses_one_larger_than_its_view(tiny_pipeline):
    bundle_grid = tiny_pipeline.config.grid  # 16 voxels of 10 mm: centres span 150 mm
    case = make_case("ras")
    foreground = foreground_mask(case.volume)
    far = BRAIN_CENTRE + np.array([[0.0, 0.0, 90.0]])  # beyond the half-span (75 mm) from the head's centre
    grid = choose_model_grid(bundle_grid, case.volume.shape, case.affine, foreground, far, edge_mm=10.0)
    index = np.linalg.solve(grid.affine, np.append(far[0], 1.0))[:3]
    assert np.all(index >= 0) and np.all(index <= np.asarray(grid.shape) - 1)
    assert index[2] <= grid.shape[2] - 2 + 1e-6  # at least edge_mm (one voxel) from the edge
    too_wide = BRAIN_CENTRE + np.array([[-80.0, 0, 0], [80.0, 0, 0]])
    with pytest.raises(MaskError, match="field of view"):
        choose_model_grid(bundle_grid, case.volume.shape, case.affine, foreground, too_wide)


@pytest.mark.parametrize("orientation", ORIENTATION_NAMES)
def test_linear_field_survives_the_round_trip_through_the_model_grid(tiny_pipeline, orientation):
    """Trilinear resampling is exact for linear fields, so any axis, sign or offset error shows up."""
    case = make_case(orientation)
    world = case.world
    field = (0.3 * world[..., 0] - 0.2 * world[..., 1] + 0.1 * world[..., 2] + 50.0).astype(np.float32)
    grid = choose_model_grid(tiny_pipeline.config.grid, field.shape, case.affine, foreground_mask(case.volume),
                             voxels_to_world(np.nonzero(case.mask), case.affine))
    model = resample_to_grid(field, case.affine, grid, order=1)
    model_world = world_coordinates(grid.shape, grid.affine)
    model_expected = 0.3 * model_world[..., 0] - 0.2 * model_world[..., 1] + 0.1 * model_world[..., 2] + 50.0
    # Model voxels whose trilinear neighbourhood lies inside the volume are exact.
    interior = np.linalg.norm(model_world - BRAIN_CENTRE, axis=-1) < 55.0
    np.testing.assert_allclose(model[interior], model_expected[interior], atol=1e-3)
    near = np.nonzero(np.linalg.norm(world - BRAIN_CENTRE, axis=-1) < 35.0)
    back = sample_at_voxels(model, grid, near, case.affine)
    np.testing.assert_allclose(back, field[near], atol=1e-3)


@pytest.mark.parametrize("orientation", ORIENTATION_NAMES)
def test_lesion_mask_lands_at_its_ras_position_on_the_model_grid(tiny_pipeline, orientation):
    case = make_case(orientation)
    view = build_model_view(prepare_inputs(SourceImage(case.volume, case.affine), case.mask), tiny_pipeline.config, 2.0)
    model_points = voxels_to_world(np.nonzero(view.mask), view.grid.affine)
    # Within half a model voxel per axis (the covering mask may take one extra layer on one side).
    assert np.all(np.abs(model_points.mean(axis=0) - case.lesion_centre) <= 5.0 + 1e-6)
    # Every lesion voxel has a masked model voxel within half a model-voxel diagonal.
    lesion_points = voxels_to_world(np.nonzero(case.mask), case.affine)
    distance, _ = cKDTree(model_points).query(lesion_points)
    assert distance.max() <= 10.0 * np.sqrt(3) / 2 + 1e-6


@pytest.mark.parametrize("orientation", ORIENTATION_NAMES)
def test_stand_in_generator_paints_the_lesion_at_the_same_ras_position(inpainter, monkeypatch, orientation):
    """Replace the diffusion model by one that paints the model-grid mask black (0, the darkest tissue).
    The dark spot must come back exactly where the mask is in the user's grid; a flipped or shifted
    grid would sample the unchanged (bright white-matter) image there instead."""
    seen = {}

    def keep_view(view, params, timings=None):
        seen["view"] = view
        return view

    def paint_mask_black(problem, params, seed, *args, **kwargs):
        return np.where(problem.mask, 0.0, problem.image).astype(np.float32)

    monkeypatch.setattr(inpainter, "latent_problem", keep_view)
    monkeypatch.setattr(inpainter, "sample", paint_mask_black)
    case = make_case(orientation, dtype=np.float32, radius_mm=20.0)
    result = inpainter(case.volume, case.affine, case.mask, "a dark lesion", seed=0, blend_margin_mm=0.0)
    low, high = seen["view"].intensity.low, seen["view"].intensity.high
    lesion = case.mask.astype(bool)
    assert np.median(case.volume[lesion]) > low + 0.6 * (high - low)  # the region starts bright
    assert np.median(result.array[lesion]) < low + 0.15 * (high - low)  # and comes back dark
    assert np.array_equal(result.array[~lesion], case.volume[~lesion])
