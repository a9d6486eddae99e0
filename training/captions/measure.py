"""Structure volumes from label maps, and label-free measurements on images in template space."""

from __future__ import annotations

import functools
import logging

import numpy as np
from scipy import ndimage as ndi

from braingen3d.core.errors import InvalidInputError
from braingen3d.core.geometry import Grid

logger = logging.getLogger(__name__)

LABEL_VALUES = {"csf": 1, "gm": 2, "wm": 3, "ventricles": 4, "lesion": 5}

STRUCTURES = ("gm_ml", "wm_ml", "csf_ml", "ventricles_ml", "brain_ml", "lesion_ml")
"""Volume measurements (ml) with cohort norms."""

MEASUREMENT_COLUMNS = (*STRUCTURES, "icv_ml", "lesion_count", "lesion_max_diameter_mm")
"""Every measurement :func:`structure_volumes` returns (also optional manifest columns)."""


def voxel_volume_ml(affine: np.ndarray) -> float:
    """Volume of one voxel in ml for a 4x4 voxel-to-mm affine."""
    return float(abs(np.linalg.det(np.asarray(affine, dtype=float)[:3, :3]))) / 1000.0


def structure_volumes(labels: np.ndarray, affine: np.ndarray, lesion_mask: np.ndarray | None = None) -> dict[str, float]:
    """Volumes (ml) and lesion statistics from a tissue label map (docs/architecture.md labels).

    Args:
        labels: integer label map: 0 background, 1 CSF, 2 GM, 3 WM, 4 lateral ventricles, 5 lesion.
        affine: 4x4 voxel-to-RAS affine.
        lesion_mask: optional binary lesion mask; by default label 5.

    Returns:
        ``gm_ml``, ``wm_ml`` (excluding lesions), ``csf_ml`` (ventricles included),
        ``ventricles_ml``, ``brain_ml`` (GM + WM + lesion), ``lesion_ml``, ``icv_ml`` (all
        labelled voxels), ``lesion_count`` (26-connected components) and
        ``lesion_max_diameter_mm`` (equivalent-sphere diameter of the largest lesion, 0 if none).

    Raises:
        InvalidInputError: if the map holds values outside 0-5.
    """
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise InvalidInputError(f"A tissue label map must be 3D; got shape {labels.shape}.")
    rounded = np.rint(labels).astype(np.int64)
    if rounded.min() < 0 or rounded.max() > 5:
        raise InvalidInputError(
            f"Tissue label maps use values 0-5 (docs/architecture.md); found {int(rounded.min())}..{int(rounded.max())}. Convert the segmentation first."
        )
    counts = np.bincount(rounded.ravel(), minlength=6).astype(float) * voxel_volume_ml(affine)
    lesion = (rounded == LABEL_VALUES["lesion"]) if lesion_mask is None else np.asarray(lesion_mask) > 0
    components, count = ndi.label(lesion, structure=np.ones((3, 3, 3), bool))
    if count:
        largest = np.bincount(components.ravel())[1:].max() * voxel_volume_ml(affine) * 1000.0
        diameter = float((6.0 * largest / np.pi) ** (1.0 / 3.0))
    else:
        diameter = 0.0
    return {
        "gm_ml": counts[2],
        "wm_ml": counts[3],
        "csf_ml": counts[1] + counts[4],
        "ventricles_ml": counts[4],
        "brain_ml": counts[2] + counts[3] + counts[5],
        "lesion_ml": float(lesion.sum()) * voxel_volume_ml(affine),
        "icv_ml": float(counts[1:].sum()),
        "lesion_count": int(count),
        "lesion_max_diameter_mm": diameter,
    }


@functools.lru_cache(maxsize=4)
def _masks_cached(shape: tuple[int, int, int], affine_key: tuple[float, ...]) -> dict[str, np.ndarray]:
    from training.cohort.templates import load_templates

    grid = Grid(shape, np.asarray(affine_key).reshape(4, 4))
    templates = load_templates(grid)
    spacing = float(min(grid.spacing))
    erode = max(1, int(round(2.0 / spacing)))
    brain = templates.brain > 0.5
    depth = ndi.distance_transform_edt(brain, sampling=grid.spacing)
    ventricles = templates.ventricles > 0.5
    if ventricles.sum() == 0:
        ventricles = templates.ventricles >= templates.ventricles.max() * 0.5
    roi = ndi.binary_dilation(ventricles, iterations=max(1, int(round(12.0 / spacing)))) & brain & (depth > 8.0)
    masks = {
        "wm": ndi.binary_erosion(templates.wm > 0.9, iterations=erode),
        # Cortical band: mostly GM, 2-15 mm below the surface. An eroded GM core would be more
        # specific, but the ribbon is 1-2 voxels thick and misses the cortex of smaller brains.
        "gm": (templates.gm > 0.5) & (depth >= 2.0) & (depth < 15.0),
        # Deep GM (basal ganglia, thalamus, insula): close to the centre, so robust to head size.
        "deep_gm": (templates.gm > 0.7) & (depth > 25.0),
        "ventricles": ventricles,
        "ventricle_roi": roi,
    }
    for name, mask in masks.items():
        if not mask.any():
            raise InvalidInputError(f"The {name} template mask is empty on a {shape} grid; use a finer grid (<= 4 mm).")
        mask.setflags(write=False)
    return masks


BACKGROUND_FRACTION = 0.05
"""Cortical-band voxels darker than this fraction of the image's 99.5th percentile count as background."""


def template_tissue_masks(grid: Grid) -> dict[str, np.ndarray]:
    """Core tissue masks from the MNI templates on ``grid`` (cached per grid).

    Args:
        grid: an MNI-aligned grid (e.g. a bundle's grid).

    Returns:
        ``wm`` (eroded WM > 0.9), ``gm`` (cortical band: GM > 0.5, 2-15 mm below the brain
        surface), ``deep_gm`` (GM > 0.7 deeper than 25 mm), ``ventricles`` (template lateral ventricles > 0.5) and ``ventricle_roi``
        (ventricles dilated by 12 mm, at least 8 mm deep in the brain: where enlarged ventricles
        can extend).
    """
    return _masks_cached(tuple(int(s) for s in grid.shape), tuple(float(v) for v in np.asarray(grid.affine).ravel()))


def _mode(values: np.ndarray, floor: float) -> float:
    """Most frequent intensity above ``floor`` (smoothed 50-bin histogram between the 1st and 99th percentiles)."""
    values = values[values > floor]
    if values.size < 10:
        return float(np.median(values)) if values.size else 0.0
    low, high = np.percentile(values, (1, 99))
    if high <= low:
        return float(low)
    counts, edges = np.histogram(values, bins=50, range=(low, high))
    smooth = ndi.gaussian_filter1d(counts.astype(float), 1.5)
    peak = int(np.argmax(smooth))
    return float((edges[peak] + edges[peak + 1]) / 2)


def _trimmed_mean(values: np.ndarray) -> float:
    low, high = np.percentile(values, (10, 90))
    kept = values[(values >= low) & (values <= high)]
    return float(kept.mean()) if kept.size else float(values.mean())


def tissue_means(image: np.ndarray, grid: Grid) -> dict[str, float]:
    """Typical image intensity of each template tissue.

    WM, deep GM and ventricles: 10-90% trimmed mean in their core masks. Cortical GM: the mode of
    the cortical band's intensities above 5% of the image's bright end (99.5th percentile). The
    band mixes GM with CSF, WM and, for brains smaller than the template, background; GM is its
    most common tissue once background is excluded. (A floor relative to the WM level would let the
    background of small brains through on T2, where WM lies near background, and the mode would become
    the background.)

    Args:
        image: volume on ``grid`` (e.g. a generated volume).
        grid: its grid.

    Returns:
        ``wm``, ``gm``, ``deep_gm`` and ``ventricles`` means.
    """
    image = np.asarray(image, dtype=np.float32)
    if tuple(image.shape) != tuple(grid.shape):
        raise InvalidInputError(f"The image has shape {image.shape} but the grid has {grid.shape}; resample it to the grid first.")
    masks = template_tissue_masks(grid)
    means = {name: _trimmed_mean(image[masks[name]]) for name in ("wm", "deep_gm", "ventricles")}
    means["gm"] = _mode(image[masks["gm"]], BACKGROUND_FRACTION * float(np.percentile(image, 99.5)))
    return means


CSF_IS_DARK = {"T1": True, "FLAIR": True, "T2": False, "PD": False}


def ventricle_volume_ml(image: np.ndarray, modality: str, grid: Grid) -> float:
    """Lateral-ventricle volume (ml) estimated from an image alone (no labels).

    The CSF reference is the 5th (T1, FLAIR: dark CSF) or 95th (T2, PD: bright CSF) percentile of
    the ventricle region of interest, which lies inside the ventricles however they are shifted
    or sized; the tissue reference is the core mean of deep GM or WM (the ventricles' neighbours),
    whichever is nearer to CSF in intensity. Cortical GM is not used: its thin template ribbon
    misses the cortex of brains much smaller or larger than the template.
    Each voxel of the region counts with the fraction by which it lies on the CSF side between
    the two (a partial-volume estimate).

    Args:
        image: volume on ``grid``, MNI-aligned.
        modality: ``T1``, ``T2``, ``FLAIR`` or ``PD``.
        grid: the image's grid.

    Returns:
        Estimated volume in ml; 0 (with a warning) when the image shows no CSF contrast of the
        expected sign (CSF not standing out from GM/WM by half their contrast).
    """
    if modality not in CSF_IS_DARK:
        raise InvalidInputError(f"Unknown modality {modality!r}; expected one of {sorted(CSF_IS_DARK)}.")
    means = tissue_means(image, grid)
    roi = template_tissue_masks(grid)["ventricle_roi"]
    values = np.asarray(image, dtype=np.float32)[roi]
    csf = float(np.percentile(values, 5.0 if CSF_IS_DARK[modality] else 95.0))
    tissue = min((means["deep_gm"], means["wm"]), key=lambda value: abs(value - csf))
    # CSF must stand out from its neighbour tissue by at least half the GM-WM contrast.
    if (csf < tissue) != CSF_IS_DARK[modality] or abs(tissue - csf) < 0.5 * abs(means["wm"] - means["deep_gm"]) or abs(tissue - csf) < 1e-6:
        logger.warning("The image has no %s-like CSF contrast in the ventricle region; reporting 0 ml.", modality)
        return 0.0
    fraction = np.clip((values - tissue) / (csf - tissue), 0.0, 1.0)
    return float(fraction.sum()) * voxel_volume_ml(grid.affine)
