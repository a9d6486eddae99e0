"""Placing a subject's image on a target grid: foreground detection and centring."""

from __future__ import annotations

import functools

import nibabel as nib
import numpy as np
from scipy import ndimage as ndi

from braingen3d.core.errors import InvalidInputError

from .resample import antialias_sigma


def canonical(image: nib.spatialimages.SpatialImage) -> nib.Nifti1Image:
    """``image`` reoriented to RAS+ by axis flips and permutations only (no interpolation)."""
    data = np.asanyarray(image.dataobj)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InvalidInputError(f"Expected a 3D volume; got shape {data.shape}. Split 4D series first.")
    return nib.as_closest_canonical(nib.Nifti1Image(data, image.affine))


def foreground_mask(data: np.ndarray, fraction: float = 0.1) -> np.ndarray:
    """The head or brain: voxels above ``fraction`` of the 99.5th percentile, largest component, holes filled.

    Raises:
        InvalidInputError: if the image is empty.
    """
    data = np.nan_to_num(np.asarray(data, dtype=np.float32))
    positive = data[data > 0]
    if positive.size == 0:
        raise InvalidInputError("The image has no positive voxels; there is no head to place on the grid.")
    mask = data > fraction * np.percentile(positive, 99.5)
    components, count = ndi.label(mask)
    if count > 1:
        sizes = np.bincount(components.ravel())
        sizes[0] = 0
        mask = components == int(np.argmax(sizes))
    return ndi.binary_fill_holes(mask)


def foreground_centre_mm(data: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """World position (mm) of the foreground's centre of mass."""
    centre = np.asarray(ndi.center_of_mass(foreground_mask(data)))
    return affine[:3, :3] @ centre + affine[:3, 3]


@functools.lru_cache(maxsize=1)
def mni_brain_centre_mm() -> np.ndarray:
    """Centre of mass (mm) of the MNI152 brain mask: where a centred brain should sit."""
    from training.cohort.templates import _load_1mm

    maps = _load_1mm()
    centre = np.asarray(ndi.center_of_mass(maps["brain"]))
    return maps["affine"][:3, :3] @ centre + maps["affine"][:3, 3]


def sample_on_grid(
    data: np.ndarray,
    source_affine: np.ndarray,
    target_affine: np.ndarray,
    shape: tuple[int, int, int],
    world_to_source_world: np.ndarray,
    order: int,
) -> np.ndarray:
    """Sample ``data`` at the voxels of a target grid mapped through a world transform.

    Args:
        data: source array.
        source_affine: its voxel-to-world affine.
        target_affine: target grid affine.
        shape: target grid shape.
        world_to_source_world: 4x4 map from target world mm to source world mm (identity, a
            centring translation, or a registration).
        order: 0 for labels, 1 for intensities.
    """
    source = np.asarray(data, dtype=np.float32 if order else data.dtype)
    if order:
        # Antialias against the effective target spacing as seen in the source.
        effective = world_to_source_world @ target_affine
        sigma = antialias_sigma(source_affine, effective)
        if np.any(sigma > 0):
            source = ndi.gaussian_filter(source, sigma)
    target_to_source = np.linalg.inv(source_affine) @ world_to_source_world @ target_affine
    return ndi.affine_transform(source, target_to_source[:3, :3], offset=target_to_source[:3, 3], output_shape=tuple(shape), order=order, mode="constant", cval=0, prefilter=False)
