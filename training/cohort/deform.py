"""Spatial transforms of the template: smooth random warps, ventricle enlargement, cortical thinning.

Deformations are computed on a coarse "field grid" (at least 4 mm) covering the target grid,
composed there, and upsampled to the target grid once; every map of a subject is then pulled
through the same coordinates with linear interpolation (so partial volumes stay consistent).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from braingen3d.core.geometry import Grid

from ..data.resample import resample_to_grid


def field_grid_for(grid: Grid, min_spacing_mm: float = 4.0) -> Grid:
    """A coarse axis-aligned grid with the same origin as ``grid`` that covers all of it.

    Args:
        grid: the target grid (axis-aligned).
        min_spacing_mm: coarsest allowed spacing is max(this, the target spacing).

    Returns:
        The field grid.
    """
    spacing = np.asarray(grid.spacing)
    coarse = max(min_spacing_mm, float(spacing.max()))
    extent = (np.asarray(grid.shape) - 1) * spacing
    shape = tuple(int(np.ceil(e / coarse)) + 1 for e in extent)
    affine = np.eye(4)
    affine[:3, :3] = np.diag(np.sign(np.diag(grid.affine[:3, :3])) * coarse)
    affine[:3, 3] = grid.affine[:3, 3]
    return Grid(shape, affine)


def grid_points_mm(grid: Grid) -> np.ndarray:
    """World coordinates (3, *shape) in mm of every voxel centre of ``grid``."""
    index = np.indices(grid.shape, dtype=np.float64).reshape(3, -1)
    world = grid.affine[:3, :3] @ index + grid.affine[:3, 3:4]
    return world.reshape((3, *grid.shape))


def sample_vector_field(field: np.ndarray, field_grid: Grid, points_mm: np.ndarray) -> np.ndarray:
    """Linearly interpolate a (3, *field_grid.shape) field at world points (3, ...); edges extend."""
    flat = points_mm.reshape(3, -1)
    inverse = np.linalg.inv(field_grid.affine)
    index = inverse[:3, :3] @ flat + inverse[:3, 3:4]
    values = np.stack([ndi.map_coordinates(component, index, order=1, mode="nearest") for component in field])
    return values.reshape(points_mm.shape)


def smooth_random_field(
    rng: np.random.Generator,
    field_grid: Grid,
    sd: float,
    control_spacing_mm: float,
) -> np.ndarray:
    """A smooth random scalar field: Gaussian control-point values, cubic-spline upsampled.

    Args:
        rng: random generator.
        field_grid: grid the field is returned on.
        sd: standard deviation of the control-point values.
        control_spacing_mm: distance between control points (sets the smoothness).

    Returns:
        float64 array of ``field_grid.shape``.
    """
    spacing = np.asarray(field_grid.spacing)
    extent = (np.asarray(field_grid.shape) - 1) * spacing
    control_shape = tuple(int(np.ceil(e / control_spacing_mm)) + 1 for e in extent)
    control = rng.normal(0.0, sd, size=control_shape)
    index = np.indices(field_grid.shape, dtype=np.float64)
    scale = (np.asarray(control_shape) - 1) / np.maximum(np.asarray(field_grid.shape) - 1, 1)
    return ndi.map_coordinates(control, index * scale.reshape(3, 1, 1, 1), order=3, mode="nearest")


def random_displacement(
    rng: np.random.Generator,
    field_grid: Grid,
    sd_mm: float,
    control_spacing_mm: float = 24.0,
) -> np.ndarray:
    """A smooth random displacement field in mm, shape (3, *field_grid.shape).

    Args:
        rng: random generator.
        field_grid: grid the field is returned on.
        sd_mm: standard deviation of the control-point displacements in mm.
        control_spacing_mm: distance between control points (sets the smoothness).
    """
    return np.stack([smooth_random_field(rng, field_grid, sd_mm, control_spacing_mm) for _ in range(3)])


def upsample(values: np.ndarray, field_grid: Grid, grid: Grid) -> np.ndarray:
    """Linearly interpolate a scalar field from ``field_grid`` onto ``grid`` (edges extend)."""
    transform = np.linalg.inv(field_grid.affine) @ grid.affine
    return ndi.affine_transform(values, transform[:3, :3], offset=transform[:3, 3], output_shape=tuple(grid.shape), order=1, mode="nearest")


def exponentiate(velocity: np.ndarray, field_grid: Grid, steps: int = 6) -> np.ndarray:
    """Displacement of the flow of a stationary velocity field after unit time (scaling and squaring).

    Args:
        velocity: (3, *field_grid.shape) velocity in mm per unit time.
        field_grid: grid of the field.
        steps: number of squarings (the field is first divided by 2**steps).

    Returns:
        Displacement in mm, same shape as ``velocity``; the flow is smooth and invertible.
    """
    points = grid_points_mm(field_grid)
    displacement = velocity / (2.0**steps)
    for _ in range(steps):
        displacement = displacement + sample_vector_field(displacement, field_grid, points + displacement)
    return displacement


@dataclass
class VentricleFlow:
    """Smooth outward flow around the lateral ventricles that enlarges them.

    The velocity is the gradient of the Gaussian-smoothed ventricle map: it points towards the
    ventricles' medial surface and fades a few centimetres away. Pulling image values along this
    flow (sampling each point from nearer the ventricle core) makes the ventricles grow while the
    tissue around them is pushed outward and compressed, leaving the brain outline unchanged.

    Attributes:
        field_grid: grid of ``velocity``.
        velocity: (3, *shape) unit-maximum velocity in mm.
        amplitudes: calibration amplitudes (mm).
        volume_ratios: ventricle volume relative to the template at each amplitude.
    """

    field_grid: Grid
    velocity: np.ndarray
    amplitudes: np.ndarray
    volume_ratios: np.ndarray

    @classmethod
    def from_templates(cls, ventricles: np.ndarray, grid: Grid, sigma_mm: float = 6.0, max_amplitude_mm: float = 24.0) -> "VentricleFlow":
        """Build and calibrate the flow for the template ventricle map ``ventricles`` on ``grid``.

        Args:
            ventricles: ventricle fraction on ``grid``.
            grid: target grid.
            sigma_mm: smoothing of the ventricle map (sets how far the push reaches).
            max_amplitude_mm: largest calibrated amplitude.
        """
        field = field_grid_for(grid)
        coarse = resample_to_grid(ventricles, grid.affine, field, order=1)
        spacing = np.asarray(field.spacing)
        smooth = ndi.gaussian_filter(coarse.astype(np.float64), sigma_mm / spacing)
        velocity = np.stack(np.gradient(smooth, *spacing))
        velocity /= np.linalg.norm(velocity, axis=0).max()
        flow = cls(field, velocity, np.zeros(1), np.ones(1))
        amplitudes = np.linspace(0.0, max_amplitude_mm, 13)
        base = float(ventricles.sum())
        ratios = []
        target_points = grid_points_mm(grid)
        for amplitude in amplitudes:
            coords = flow.pull_coordinates(amplitude, grid, target_points)
            ratios.append(float(ndi.map_coordinates(ventricles, coords, order=1).sum()) / base)
        flow.amplitudes = amplitudes
        flow.volume_ratios = np.maximum.accumulate(np.asarray(ratios))
        return flow

    def displacement(self, amplitude_mm: float) -> np.ndarray:
        """Displacement (3, *field_grid.shape) in mm for a flow of ``amplitude_mm``."""
        if amplitude_mm <= 0:
            return np.zeros_like(self.velocity)
        return exponentiate(self.velocity * amplitude_mm, self.field_grid)

    def pull_coordinates(self, amplitude_mm: float, grid: Grid, points_mm: np.ndarray) -> np.ndarray:
        """Template voxel coordinates (3, *grid.shape) to sample for the flow alone (used for calibration)."""
        moved = points_mm + sample_vector_field(self.displacement(amplitude_mm), self.field_grid, points_mm)
        inverse = np.linalg.inv(grid.affine)
        return np.einsum("ij,j...->i...", inverse[:3, :3], moved) + inverse[:3, 3].reshape(3, 1, 1, 1)

    def amplitude_for_ratio(self, ratio: float) -> float:
        """Flow amplitude (mm) that multiplies the template ventricle volume by ``ratio`` (clamped)."""
        return float(np.interp(ratio, self.volume_ratios, self.amplitudes))


@functools.lru_cache(maxsize=4)
def _cached_flow(shape: tuple[int, int, int], affine_key: tuple[float, ...]) -> VentricleFlow:
    from .templates import load_templates

    grid = Grid(shape, np.asarray(affine_key).reshape(4, 4))
    return VentricleFlow.from_templates(load_templates(grid).ventricles, grid)


def ventricle_flow(grid: Grid) -> VentricleFlow:
    """The calibrated ventricle flow of the template on ``grid`` (computed once per grid).

    Treat the result as read-only: it is shared.
    """
    return _cached_flow(tuple(int(s) for s in grid.shape), tuple(float(v) for v in np.asarray(grid.affine).ravel()))


def similarity_inverse(scale: float, rotation_deg: np.ndarray, translation_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Matrix and offset mapping subject mm to template mm for ``subject = c + s R (template - c) + t``.

    The centre ``c`` is the origin of MNI space (the brain's approximate centre).

    Returns:
        (3x3 matrix, 3-vector) so that ``template = matrix @ subject + offset``.
    """
    ax, ay, az = np.deg2rad(np.asarray(rotation_deg, dtype=float))
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    rotation = rz @ ry @ rx
    matrix = rotation.T / scale
    return matrix, -matrix @ np.asarray(translation_mm, dtype=float)


def subject_coordinates(
    grid: Grid,
    field_grid: Grid,
    similarity: tuple[np.ndarray, np.ndarray],
    warp_mm: np.ndarray,
    ventricle_mm: np.ndarray,
) -> np.ndarray:
    """Template voxel coordinates (3, *grid.shape) for each subject voxel.

    A subject point x maps to the template as: undo the global similarity (y), add the random
    warp at y, then add the ventricle flow displacement there. The composition is evaluated on
    the coarse field grid and linearly upsampled.

    Args:
        grid: target grid (templates and subjects both live on it).
        field_grid: coarse grid of the displacement fields.
        similarity: (matrix, offset) from :func:`similarity_inverse`.
        warp_mm: random displacement on the field grid.
        ventricle_mm: ventricle-flow displacement on the field grid.
    """
    matrix, offset = similarity
    coarse = grid_points_mm(field_grid)
    y = np.einsum("ij,j...->i...", matrix, coarse) + offset.reshape(3, 1, 1, 1)
    y = y + sample_vector_field(warp_mm, field_grid, y)
    y = y + sample_vector_field(ventricle_mm, field_grid, y)
    fine = grid_points_mm(grid)
    template_mm = fine + sample_vector_field(y - coarse, field_grid, fine)
    inverse = np.linalg.inv(grid.affine)
    return (np.einsum("ij,j...->i...", inverse[:3, :3], template_mm) + inverse[:3, 3].reshape(3, 1, 1, 1)).astype(np.float32)


def warp(volume: np.ndarray, coordinates: np.ndarray) -> np.ndarray:
    """Pull ``volume`` through voxel ``coordinates`` with linear interpolation (zero outside)."""
    return ndi.map_coordinates(volume, coordinates, order=1, mode="constant", cval=0.0, prefilter=False).astype(np.float32)


def thin_cortex(gm: np.ndarray, csf: np.ndarray, brain: np.ndarray, amount: float, spacing_mm: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Turn grey matter next to external CSF (the pial surface and sulci) into CSF.

    The fraction of GM converted in a voxel is ``amount`` times the local amount of nearby fluid
    (external CSF plus outside-the-brain, smoothed over ~1.5 mm), so the cortex thins from its
    outer boundary and sulci widen; ventricles are not touched.

    Args:
        gm: grey-matter fraction.
        csf: extra-ventricular CSF fraction.
        brain: brain fraction.
        amount: 0 (none) to 1 (all GM touching fluid).
        spacing_mm: voxel size.

    Returns:
        (new GM, new CSF, GM fraction removed).
    """
    if amount <= 0:
        return gm, csf, np.zeros_like(gm)
    fluid = np.clip(csf + (1.0 - brain), 0.0, 1.0)
    nearby = ndi.gaussian_filter(fluid, 1.5 / spacing_mm)
    loss = (np.clip(amount * 2.0 * nearby, 0.0, 1.0) * gm).astype(np.float32)
    return gm - loss, csf + loss, loss
