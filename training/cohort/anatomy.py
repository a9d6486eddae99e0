"""Tissue anatomy from the template probability maps: lateral ventricles and label maps."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from braingen3d.core.errors import InvalidInputError

LABELS = {"background": 0, "csf": 1, "gm": 2, "wm": 3, "ventricles": 4, "lesion": 5}
"""Tissue label values (docs/architecture.md)."""

# MNI point between the bodies of the two lateral ventricles.
VENTRICLE_REFERENCE_MM = np.array([0.0, -15.0, 15.0])


def lateral_ventricle_mask(
    csf: np.ndarray,
    brain_mask: np.ndarray,
    affine: np.ndarray,
    threshold: float = 0.5,
    erosion_mm: float = 5.0,
    max_distance_mm: float = 30.0,
    max_midline_fraction: float = 0.2,
) -> np.ndarray:
    """The lateral ventricles: the CSF connected component near the centre of the brain.

    The deep CSF (probability above ``threshold``, at least ``erosion_mm`` inside the brain) splits
    into connected components. The midline fissure and basal cisterns also lie near the centre,
    but most of their voxels sit on the mid-sagittal plane, whereas the lateral ventricles lie
    either side of the septum. So the largest component whose centroid lies within
    ``max_distance_mm`` of a reference point between the ventricle bodies and whose fraction of
    voxels within 3 mm of x = 0 is below ``max_midline_fraction`` is taken.

    Args:
        csf: CSF probability map (i, j, k).
        brain_mask: boolean brain mask on the same grid.
        affine: 4x4 voxel-to-RAS (MNI) affine.
        threshold: CSF probability that counts as CSF.
        erosion_mm: depth below the brain surface the component must lie at.
        max_distance_mm: largest distance of the component's centroid from the reference point.
        max_midline_fraction: largest fraction of voxels within 3 mm of the mid-sagittal plane.

    Returns:
        Boolean mask of the lateral ventricles.

    Raises:
        InvalidInputError: if no component qualifies (the maps are not in MNI space).
    """
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    iterations = max(1, int(round(erosion_mm / float(spacing.min()))))
    deep = ndi.binary_erosion(brain_mask.astype(bool), iterations=iterations)
    components, count = ndi.label((csf > threshold) & deep)
    if count == 0:
        raise InvalidInputError("No deep CSF was found; the tissue maps must be MNI152-aligned probability maps.")
    index = np.arange(1, count + 1)
    sizes = ndi.sum_labels(np.ones(csf.shape, np.float32), components, index)
    centroids = np.asarray(ndi.center_of_mass(np.ones(csf.shape, np.float32), components, index))
    world = centroids @ affine[:3, :3].T + affine[:3, 3]
    i, j, k = np.ogrid[: csf.shape[0], : csf.shape[1], : csf.shape[2]]
    x_mm = affine[0, 0] * i + affine[0, 1] * j + affine[0, 2] * k + affine[0, 3]
    midline = ndi.sum_labels(np.broadcast_to(np.abs(x_mm) < 3.0, csf.shape), components, index) / sizes
    near = np.linalg.norm(world - VENTRICLE_REFERENCE_MM, axis=1) < max_distance_mm
    candidates = np.flatnonzero(near & (midline < max_midline_fraction))
    if candidates.size == 0:
        raise InvalidInputError("No lateral-ventricle component was found near the brain centre; are the maps MNI152-aligned?")
    best = index[candidates[np.argmax(sizes[candidates])]]
    return components == best


def label_map(
    csf: np.ndarray,
    gm: np.ndarray,
    wm: np.ndarray,
    ventricles: np.ndarray,
    lesion: np.ndarray,
    brain: np.ndarray,
) -> np.ndarray:
    """Hard tissue labels (``LABELS``) from partial-volume tissue fractions.

    Each brain voxel takes the tissue with the largest fraction, except that voxels whose lesion
    fraction exceeds 0.5 are lesion, so the label map and the binary lesion mask always agree.

    Args:
        csf: extra-ventricular CSF fraction.
        gm: grey-matter fraction.
        wm: white-matter fraction (without lesion).
        ventricles: lateral-ventricle CSF fraction.
        lesion: white-matter lesion fraction.
        brain: boolean brain mask; outside it the label is 0.

    Returns:
        uint8 label map.
    """
    stack = np.stack([csf, gm, wm, ventricles])
    values = np.array([LABELS["csf"], LABELS["gm"], LABELS["wm"], LABELS["ventricles"]], np.uint8)
    labels = values[np.argmax(stack, axis=0)]
    labels[lesion > 0.5] = LABELS["lesion"]
    labels[~brain.astype(bool)] = LABELS["background"]
    return labels
