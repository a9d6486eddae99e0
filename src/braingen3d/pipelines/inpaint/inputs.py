"""The inputs of one inpainting call: the volume, its binary lesion mask in the volume's grid, and the checks that
refuse unusable ones (``MaskError``, ``InpaintUnsupportedError``: bad input, CLI exit 2, worker ``invalid_input``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ...core.errors import InvalidInputError, MaskError
from ...core.geometry import geometry_difference
from ...core.intensity import foreground_mask
from ...io.source import SourceImage

logger = logging.getLogger(__name__)



def binarise_mask(array: np.ndarray, name: str = "mask") -> np.ndarray:
    """A boolean mask (non-zero = lesion) from a binary mask or an integer label map.

    ``{0, 1}`` and boolean masks are taken as they are. Integer label maps (values such as 0/1/2)
    are accepted with a warning, every non-zero label counting as lesion. Fractional values (a
    probability map) and NaN are refused, because the threshold is the user's decision.

    Args:
        array: the mask data as read.
        name: how to name the mask in messages.
    """
    if array.dtype == bool:
        return array.copy()
    nonzero_values = array[array != 0]
    if np.issubdtype(array.dtype, np.floating):
        if np.isnan(nonzero_values).any():
            raise MaskError(f"The {name} contains NaN values. Save it as a binary (0/1) mask.")
        fractional = nonzero_values[nonzero_values != np.round(nonzero_values)]
        if fractional.size:
            raise MaskError(
                f"The {name} holds fractional values (e.g. {float(fractional[0]):.3g}); it looks like a probability map. "
                "Threshold it (for example at 0.5) and save a binary 0/1 mask."
            )
    labels = np.unique(nonzero_values)
    if labels.size and not (labels.size == 1 and labels[0] == 1):
        logger.warning("The %s holds labels %s; every non-zero label is treated as lesion.", name,
                       ", ".join(f"{v:g}" for v in labels[:10].astype(float)))
    return array != 0


def resample_nearest(mask: np.ndarray, mask_affine: np.ndarray, shape: tuple[int, int, int],
                     affine: np.ndarray) -> np.ndarray:
    """Nearest-neighbour resampling of a boolean mask into the grid (``shape``, ``affine``)."""
    index_map = np.linalg.inv(mask_affine) @ affine  # target voxel index -> mask voxel index
    resampled = ndimage.affine_transform(mask.astype(np.uint8), index_map[:3, :3], offset=index_map[:3, 3],
                                         output_shape=tuple(shape), order=0, mode="constant", cval=0)
    return resampled.astype(bool)


def mask_in_volume_grid(mask: SourceImage, volume: SourceImage, resample: bool = False) -> np.ndarray:
    """The mask as a boolean array in the volume's grid.

    Args:
        mask: the mask as read.
        volume: the volume it belongs to.
        resample: if the grids differ, resample the mask (nearest neighbour) instead of refusing.
    """
    binary = binarise_mask(mask.array, f"mask {mask.name}")
    difference = geometry_difference(volume.shape, volume.affine, mask.shape, mask.affine)
    if difference is None:
        return binary
    if not resample:
        raise MaskError(
            f"The mask {mask.name} is not in the volume's grid: {difference}. Save the mask on the volume's grid, "
            "or pass --resample-mask (worker: \"resample_mask\": true) to resample it nearest-neighbour into the volume's grid."
        )
    if not binary.any():
        raise MaskError(f"The mask {mask.name} is empty (no non-zero voxels). Draw the lesion region first.")
    logger.info("Resampling the mask into the volume's grid (%s).", difference)
    resampled = resample_nearest(binary, mask.affine, volume.shape, volume.affine)
    if not resampled.any():
        raise MaskError(
            f"The mask {mask.name} does not overlap the volume {volume.name}: none of its voxels falls inside the volume "
            "(or the region is thinner than one volume voxel). Check that both files share a coordinate system."
        )
    return resampled


# More than this fraction of the mask on background means the mask is outside the head/brain.
MAX_MASK_OUTSIDE_FRACTION = 0.5
# A mask larger than this fraction of the foreground is not a lesion.
MAX_MASK_FOREGROUND_FRACTION = 0.5


@dataclass
class InpaintInputs:
    """What the inpainter works on, all in the volume's grid.

    Args:
        volume: the volume as read.
        mask: boolean lesion mask (True = region to synthesise).
        foreground: boolean head/brain foreground of the volume.
        mask_source: the mask file as read (for provenance), if it came from a file.
    """

    volume: SourceImage
    mask: np.ndarray
    foreground: np.ndarray
    mask_source: SourceImage | None = None

    @property
    def mask_voxels(self) -> int:
        return int(np.count_nonzero(self.mask))

    @property
    def mask_volume_ml(self) -> float:
        voxel_ml = abs(float(np.linalg.det(self.volume.affine[:3, :3]))) / 1000.0
        return self.mask_voxels * voxel_ml


def check_volume(volume: SourceImage) -> None:
    """Refuse volumes without usable image content (NaN/inf, constant, too small)."""
    data = volume.array
    if not (np.issubdtype(data.dtype, np.number) and not np.issubdtype(data.dtype, np.complexfloating)):
        raise InvalidInputError(f"The volume {volume.name} has data type {data.dtype}; a real-valued image is needed.")
    if min(data.shape) < 2:
        raise InvalidInputError(f"The volume {volume.name} has shape {data.shape}; a 3D image at least 2 voxels thick is needed.")
    if np.issubdtype(data.dtype, np.floating) and not np.all(np.isfinite(data)):
        bad = int(np.count_nonzero(~np.isfinite(data)))
        raise InvalidInputError(f"The volume {volume.name} contains {bad} NaN or infinite voxels. Fix or replace them before inpainting.")
    if data.min() == data.max():
        raise InvalidInputError(f"The volume {volume.name} is constant (every voxel is {data.flat[0]}); there is no image to inpaint.")


def check_mask(mask: np.ndarray, foreground: np.ndarray, name: str = "mask") -> None:
    """Refuse empty masks, masks mostly on background, and masks covering more than half the foreground."""
    voxels = int(np.count_nonzero(mask))
    if voxels == 0:
        raise MaskError(f"The {name} is empty (no non-zero voxels). Draw the lesion region first.")
    outside = int(np.count_nonzero(mask & ~foreground))
    if outside > MAX_MASK_OUTSIDE_FRACTION * voxels:
        raise MaskError(
            f"The {name} lies outside the brain: {outside} of its {voxels} voxels are on background. "
            "Draw the lesion region inside the brain, and check that the mask belongs to this volume."
        )
    brain = int(np.count_nonzero(foreground))
    if voxels > MAX_MASK_FOREGROUND_FRACTION * brain:
        raise MaskError(
            f"The {name} covers {voxels} voxels, more than half of the brain/head ({brain} voxels). "
            "Inpainting replaces lesions, not whole brains; draw a smaller region (or use generate for a new volume)."
        )


def prepare_inputs(volume: SourceImage, mask: SourceImage | np.ndarray, resample_mask: bool = False) -> InpaintInputs:
    """Check the volume and mask and bring the mask into the volume's grid.

    Args:
        volume: the volume to edit.
        mask: the lesion mask: a ``SourceImage`` (any grid) or an array already in the volume's grid.
        resample_mask: resample a mask whose grid differs from the volume's, instead of refusing it.
    """
    check_volume(volume)
    if isinstance(mask, SourceImage):
        mask_source = mask
        binary = mask_in_volume_grid(mask, volume, resample_mask)
    else:
        mask_source = None
        if tuple(np.shape(mask)) != volume.shape:
            raise MaskError(f"The mask has shape {np.shape(mask)} but the volume has shape {volume.shape}; "
                            "give the mask on the volume's grid.")
        binary = mask_in_volume_grid(SourceImage(np.asarray(mask), volume.affine), volume, False)
    foreground = foreground_mask(volume.array)
    check_mask(binary, foreground, f"mask {mask_source.name}" if mask_source else "mask")
    return InpaintInputs(volume, binary, foreground, mask_source)
