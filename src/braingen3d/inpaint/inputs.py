"""Validated inputs of one inpainting call: the volume, its binary lesion mask and its foreground."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInputError
from .errors import MaskError
from .foreground import foreground_mask
from .mask import mask_in_volume_grid
from .source import SourceImage

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
