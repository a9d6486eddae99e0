"""The last check before a volume is written: every voxel must be a finite number."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.errors import NonFiniteOutputError


def check_finite_voxels(array: np.ndarray, path: Path) -> None:
    """Raise ``NonFiniteOutputError`` if ``array`` (the volume meant for ``path``) holds NaN or infinite voxels.

    Integer arrays are always finite and pass without a scan.
    """
    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.floating) and not np.iscomplexobj(array):
        return
    bad = int(array.size - np.count_nonzero(np.isfinite(array)))
    if bad:
        raise NonFiniteOutputError(
            f"The volume for {path} has {bad} of {array.size} voxels that are NaN or infinite, so nothing was "
            "written. Sampling diverged: use a smaller guidance scale (bundles default to 1-20) or check the bundle "
            "(braingen3d info --bundle FOLDER)."
        )
