"""The MNI152 2009 templates shipped with nilearn, skull-stripped and resampled to a target grid."""

from __future__ import annotations

import functools
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage as ndi

from braingen3d.core.errors import InvalidInputError
from braingen3d.core.geometry import Grid

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


TEMPLATE_FILES = {
    "t1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}
"""The MNI152 2009 (ICBM 2009a symmetric) files in nilearn's package data."""

BRAIN_MASK_THRESHOLD = 0.2
"""T1 level above which a voxel is brain (nilearn's ``load_mni152_brain_mask`` default)."""


def template_folder() -> Path:
    """nilearn's package-data folder, found without importing nilearn (its import takes seconds).

    Raises:
        InvalidInputError: if nilearn is not installed (``pip install braingen3d[train]``).
    """
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise InvalidInputError("The cohort needs the MNI152 templates shipped with nilearn; install it with pip install 'braingen3d[train]'.")
    folder = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
    missing = [name for name in TEMPLATE_FILES.values() if not (folder / name).is_file()]
    if missing:
        raise InvalidInputError(f"nilearn at {folder} lacks {missing}; reinstall nilearn (>= 0.10).")
    return folder


def _load_1mm() -> dict[str, np.ndarray]:
    """The 1 mm templates as float32 in [0, 1] plus their affine, exactly as nilearn's
    ``load_mni152_template``/``_gm_template``/``_wm_template``/``_brain_mask`` return them
    (each file divided by its maximum; mask = T1 > 0.2). No network is used."""
    folder = template_folder()
    maps: dict[str, np.ndarray] = {}
    affine = None
    for name, filename in TEMPLATE_FILES.items():
        image = nib.load(folder / filename)
        data = np.asarray(image.dataobj, dtype=np.float32)
        maps[name] = data / data.max()
        affine = np.asarray(image.affine, dtype=float)
    maps["brain"] = (maps["t1"] > BRAIN_MASK_THRESHOLD).astype(np.float32)
    maps["affine"] = affine
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
