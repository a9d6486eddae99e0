"""Training data: manifest rows, grid-checked volumes kept in memory, and brain-biased random patches.

Manifest CSV columns (paths relative to the manifest's folder): ``subject_id``, ``image``, ``modality``,
``age``, ``sex``, ``tissue_map``, ``lesion_mask``, ``dataset``, ``caption``, ``split``, plus extra attributes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from braingen3d.core.geometry import Grid

logger = logging.getLogger(__name__)

PREPROCESS_HINT = "Bring the data onto the bundle grid first with: python -m training.data.preprocess"


class DataError(ValueError):
    """The manifest or an image is not usable for training; the message names the file and the fix."""


@dataclass(frozen=True)
class Record:
    """One manifest row: the raw string fields and the resolved image paths."""

    fields: dict[str, str]
    image: Path
    tissue_map: Path | None

    @property
    def subject_id(self) -> str:
        return self.fields["subject_id"]

    @property
    def split(self) -> str:
        return self.fields.get("split", "train").strip() or "train"


def read_manifest(path: str | Path, splits: tuple[str, ...] | None = None) -> list[Record]:
    """Read and validate a manifest (``training.data.manifest``) and keep rows whose split is in ``splits``.

    Args:
        path: the manifest CSV.
        splits: splits to keep (``train``, ``val``, ``test``); all rows if None.

    Raises:
        DataError: if the manifest is invalid or a referenced file is missing.
    """
    from training.data.manifest import ManifestError
    from training.data.manifest import read_manifest as read_rows

    path = Path(path)
    try:
        rows = read_rows(path, resolve_paths=True, check_files=True)
    except ManifestError as exc:
        raise DataError(str(exc)) from exc
    records = []
    for row in rows:
        if splits is not None and row["split"] not in splits:
            continue
        tissue = Path(row["tissue_map"]) if row.get("tissue_map") else None
        records.append(Record(row, Path(row["image"]), tissue))
    return records


def spread_selection(records: list[Record], count: int) -> list[Record]:
    """Up to ``count`` rows that cycle through the modalities and are evenly spaced over each modality's rows.

    Each modality's picks are offset by a fraction of the spacing, so that few picks land on different subjects.
    """
    groups: dict[str, list[Record]] = {}
    for record in records:
        groups.setdefault(record.fields.get("modality", ""), []).append(record)
    ordered = [groups[name] for name in sorted(groups)]
    per_group = -(-min(count, len(records)) // len(ordered))
    chosen = []
    for j in range(min(count, len(records))):
        g, k = j % len(ordered), j // len(ordered)
        group = ordered[g]
        if per_group <= len(group):
            chosen.append(group[int((k + (g + 0.5) / len(ordered)) * len(group) / per_group)])
        elif k < len(group):
            chosen.append(group[k])
    return chosen


def check_on_grid(path: Path, grid: Grid, atol_mm: float = 1e-3) -> None:
    """Refuse an image whose shape or affine differs from the bundle grid (reads the header only)."""
    try:
        header_image = nib.load(str(path))
    except Exception as exc:  # nibabel raises several types for unreadable files
        raise DataError(f"{path} is not a readable NIfTI image ({exc}).") from exc
    shape = tuple(header_image.shape[:3])
    if shape != tuple(grid.shape) or len(header_image.shape) not in (3, 4) or (len(header_image.shape) == 4 and header_image.shape[3] != 1):
        raise DataError(f"{path} has shape {header_image.shape} but the config's grid is {tuple(grid.shape)}. {PREPROCESS_HINT}")
    if not np.allclose(header_image.affine, grid.affine, atol=atol_mm):
        raise DataError(
            f"{path} has affine\n{np.round(header_image.affine, 3)}\nbut the config's grid has\n"
            f"{np.round(grid.affine, 3)}. {PREPROCESS_HINT}"
        )


def _load_array(path: Path) -> np.ndarray:
    data = np.asarray(nib.load(str(path)).dataobj, dtype=np.float32)
    return data.reshape(data.shape[:3])


class VolumeStore:
    """Grid-checked training volumes and brain masks, loaded once and kept in memory.

    Args:
        records: manifest rows.
        grid: the bundle grid every image must lie on.
        value_range_tolerance: how far outside [0, 1] an intensity may be before it is refused.
    """

    def __init__(self, records: list[Record], grid: Grid, value_range_tolerance: float = 0.01) -> None:
        if not records:
            raise DataError("The manifest selection is empty; check the 'split' column (train/test).")
        for record in records:
            check_on_grid(record.image, grid)
            if record.tissue_map is not None:
                check_on_grid(record.tissue_map, grid)
        self.records = records
        self.grid = grid
        self.tolerance = value_range_tolerance
        self._images: dict[int, np.ndarray] = {}
        self._masks: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.records)

    def image(self, index: int) -> np.ndarray:
        """The (i, j, k) float32 image of row ``index``, in [0, 1]."""
        if index not in self._images:
            path = self.records[index].image
            data = _load_array(path)
            low, high = float(data.min()), float(data.max())
            if low < -self.tolerance or high > 1.0 + self.tolerance or not np.isfinite(data).all():
                raise DataError(
                    f"{path} has intensities in [{low:.3g}, {high:.3g}]; training needs [0, 1] "
                    f"(braingen3d.core.intensity.robust_normalise). {PREPROCESS_HINT}"
                )
            self._images[index] = np.clip(data, 0.0, 1.0)
        return self._images[index]

    def brain_mask(self, index: int) -> np.ndarray:
        """Boolean brain mask: tissue labels > 0 when a tissue map is given, else image > 0."""
        record = self.records[index]
        key = str(record.tissue_map or record.image)
        if key not in self._masks:
            if record.tissue_map is not None:
                self._masks[key] = _load_array(record.tissue_map) > 0.5
            else:
                self._masks[key] = self.image(index) > 1e-3
        return self._masks[key]


def random_patch_corner(mask: np.ndarray, patch: tuple[int, int, int], rng: np.random.Generator,
                        foreground_bias: float) -> tuple[int, int, int]:
    """Corner of a random patch; with probability ``foreground_bias`` the patch is centred on a brain voxel.

    Args:
        mask: boolean brain mask.
        patch: patch shape.
        rng: the sampler's generator (its state is checkpointed).
        foreground_bias: probability of centring on the brain.
    """
    shape = mask.shape
    centre = None
    if rng.random() < foreground_bias and mask.any():
        # Rejection sampling is cheap when the brain fills much of the grid (the usual case) ...
        for _ in range(32):
            candidate = tuple(int(rng.integers(0, s)) for s in shape)
            if mask[candidate]:
                centre = candidate
                break
        else:  # ... and an exact draw from the mask's voxels covers small masks.
            flat = np.flatnonzero(mask)
            centre = tuple(int(c) for c in np.unravel_index(flat[rng.integers(0, flat.size)], shape))
    if centre is None:
        centre = tuple(int(rng.integers(0, s)) for s in shape)
    return tuple(int(np.clip(c - p // 2, 0, s - p)) for c, p, s in zip(centre, patch, shape))


def extract_patch(volume: np.ndarray, corner: tuple[int, int, int], patch: tuple[int, int, int]) -> np.ndarray:
    i, j, k = corner
    return volume[i : i + patch[0], j : j + patch[1], k : k + patch[2]]
