"""The MNI152 2009 templates shipped with nilearn, skull-stripped and resampled to a target grid."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from braingen3d.geometry import Grid

from ..data.resample import resample_to_grid
from .anatomy import lateral_ventricle_mask

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TemplateSet:
    """Template maps on one grid, all float32 in [0, 1] and zero outside the brain.

    Attributes:
        grid: the grid every map lives on.
        t1: skull-stripped T1-weighted template intensity.
        gm: grey-matter fraction.
        wm: white-matter fraction.
        csf: extra-ventricular CSF fraction (brain mask minus GM minus WM, outside the ventricles).
        ventricles: lateral-ventricle CSF fraction.
        brain: brain-mask fraction (partial volume at the edge).
        t1_tissue_means: mean template T1 in pure CSF, GM and WM (at 1 mm), used to re-render T1
            after tissue changes.
    """

    grid: Grid
    t1: np.ndarray
    gm: np.ndarray
    wm: np.ndarray
    csf: np.ndarray
    ventricles: np.ndarray
    brain: np.ndarray
    t1_tissue_means: dict[str, float]


def _load_1mm() -> dict[str, np.ndarray]:
    """The 1 mm templates as float32 arrays plus their affine (no network: nilearn package data)."""
    from nilearn import datasets

    t1_img = datasets.load_mni152_template(resolution=1)
    maps = {
        "t1": t1_img.get_fdata(dtype=np.float32),
        "gm": datasets.load_mni152_gm_template(resolution=1).get_fdata(dtype=np.float32),
        "wm": datasets.load_mni152_wm_template(resolution=1).get_fdata(dtype=np.float32),
        "brain": datasets.load_mni152_brain_mask(resolution=1).get_fdata(dtype=np.float32),
    }
    maps["affine"] = np.asarray(t1_img.affine, dtype=float)
    return maps


@functools.lru_cache(maxsize=4)
def _cached(shape: tuple[int, int, int], affine_key: tuple[float, ...]) -> TemplateSet:
    grid = Grid(shape, np.asarray(affine_key, dtype=float).reshape(4, 4))
    maps = _load_1mm()
    affine = maps["affine"]
    brain = maps["brain"] > 0.5
    # The T1 template is already skull-stripped; zeroing the faint rim outside the mask makes
    # every modality share one brain outline.
    t1 = maps["t1"] * brain
    gm = maps["gm"] * brain
    wm = maps["wm"] * brain
    csf_all = np.clip(brain - gm - wm, 0.0, 1.0)
    ventricle_core = lateral_ventricle_mask(csf_all, brain, affine)

    # Include the ventricles' partial-volume rim.
    ventricle_region = ndi.binary_dilation(ventricle_core, iterations=2)
    ventricles = csf_all * ventricle_region
    csf = csf_all - ventricles
    means = {
        "csf": float(t1[(csf_all > 0.9) & brain].mean()),
        "gm": float(t1[(gm > 0.9) & brain].mean()),
        "wm": float(t1[(wm > 0.9) & brain].mean()),
    }
    resampled = {
        name: np.clip(resample_to_grid(array, affine, grid, order=1), 0.0, 1.0)
        for name, array in (("t1", t1), ("gm", gm), ("wm", wm), ("csf", csf), ("ventricles", ventricles), ("brain", brain.astype(np.float32)))
    }
    logger.info("Resampled the MNI152 templates to %s voxels at %s mm.", grid.shape, grid.spacing)
    for array in resampled.values():
        array.setflags(write=False)
    return TemplateSet(grid=grid, t1_tissue_means=means, **resampled)


def load_templates(grid: Grid) -> TemplateSet:
    """The MNI152 2009 templates on ``grid``, computed once per grid and cached in memory.

    Args:
        grid: target grid (must be MNI-aligned for the maps to land on the brain).

    Returns:
        A read-only :class:`TemplateSet`.
    """
    return _cached(tuple(int(s) for s in grid.shape), tuple(float(v) for v in np.asarray(grid.affine).ravel()))
