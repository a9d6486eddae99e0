"""Preprocess the images of a manifest onto a bundle's grid, with an on-disk cache.

Example::

    python -m training.data.preprocess data/IXI/manifest.csv --out data/IXI/prep [--shape 80 96 80 --spacing 2 --register]

For each row: reorient to RAS, place the head on the target grid (its foreground's centre of mass
moved to the MNI brain's centre, or, with ``--register``, an affine registration to the MNI152 T1
template), resample (linear for images, nearest for tissue maps and lesion masks, antialiased
when downsampling), normalise intensities with ``braingen3d.core.intensity.robust_normalise`` and
write ``OUT/images``, ``OUT/labels``, ``OUT/lesions`` plus ``OUT/manifest.csv`` pointing at them.
Outputs are cached: the file name holds a key of the input path, its modification time and the
parameters, so a re-run only processes what changed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from tqdm import tqdm

from braingen3d.core.errors import BrainGenError, InvalidInputError
from braingen3d.core.geometry import DEFAULT_GRID, Grid, mni_grid
from braingen3d.core.intensity import robust_normalise

from .atomic import save_nifti_atomic, write_text_atomic
from .manifest import COLUMNS, read_manifest, write_manifest
from .placement import canonical, foreground_centre_mm, foreground_mask, mni_brain_centre_mm, sample_on_grid

logger = logging.getLogger(__name__)

PREPROCESS_VERSION = 1


@dataclass(frozen=True)
class PreprocessParams:
    """Parameters that define a preprocessed file (they are part of the cache key).

    Attributes:
        shape: target grid shape.
        spacing: target isotropic spacing in mm.
        register: affine registration to the MNI152 T1 template.
        label_ventricles: relabel CSF (1) inside the template ventricle region as lateral
            ventricles (4) in tissue maps that have no ventricle label (e.g. FSL FAST maps).
    """

    shape: tuple[int, int, int]
    spacing: float
    register: bool = False
    label_ventricles: bool = False

    @property
    def grid(self) -> Grid:
        if tuple(self.shape) == DEFAULT_GRID.shape and abs(self.spacing - DEFAULT_GRID.spacing[0]) < 1e-9:
            return DEFAULT_GRID
        return mni_grid(tuple(self.shape), self.spacing)


def cache_key(path: Path, params: PreprocessParams, extra: str = "") -> str:
    """Hex key of an input file (absolute path, mtime, size), the parameters and ``extra``."""
    stat = path.stat()
    payload = json.dumps([str(path.resolve()), stat.st_mtime_ns, stat.st_size, asdict(params), PREPROCESS_VERSION, extra], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _safe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def world_transform(image: nib.Nifti1Image, params: PreprocessParams) -> np.ndarray:
    """4x4 map from target-grid world mm to the image's world mm (centring, then registration)."""
    data = image.get_fdata(dtype=np.float32)
    shift = np.eye(4)
    shift[:3, 3] = foreground_centre_mm(data, image.affine) - mni_brain_centre_mm()
    if not params.register:
        return shift
    from training.cohort.templates import load_templates

    from .registration import affine_to_template

    grid = params.grid
    placed = sample_on_grid(data, image.affine, grid.affine, grid.shape, shift, order=1)
    registration = affine_to_template(placed, load_templates(grid).t1, grid)
    return shift @ registration


def _relabel_ventricles(labels: np.ndarray, grid: Grid) -> np.ndarray:
    from scipy import ndimage as ndi

    from training.captions.measure import template_tissue_masks

    masks = template_tissue_masks(grid)
    candidates, _ = ndi.label((labels == 1) & masks["ventricle_roi"])
    touching = np.unique(candidates[masks["ventricles"] & (candidates > 0)])
    ventricles = np.isin(candidates, touching[touching > 0])
    out = labels.copy()
    out[ventricles] = 4
    return out


def preprocess_row(row: dict[str, str], out: Path, params: PreprocessParams) -> dict[str, str]:
    """Preprocess one manifest row (absolute paths) and return the new row (paths relative to ``out``).

    Raises:
        InvalidInputError: naming the file that cannot be read or processed.
    """
    grid = params.grid
    source = Path(row["image"])
    key = cache_key(source, params)
    stem = _safe_name(f"{row['subject_id']}_{row['modality']}")
    image_out = out / "images" / f"{stem}_{key}.nii.gz"
    transform_out = out / "transforms" / f"{stem}_{key}.json"
    new = dict(row)
    new["image"] = image_out.relative_to(out).as_posix()
    try:
        if image_out.is_file() and transform_out.is_file():
            transform = np.asarray(json.loads(transform_out.read_text())["target_to_source_world"])
        else:
            image = canonical(nib.load(source))
            transform = world_transform(image, params)
            data = image.get_fdata(dtype=np.float32)
            resampled = sample_on_grid(data, image.affine, grid.affine, grid.shape, transform, order=1)
            foreground = foreground_mask(resampled)
            normalised = robust_normalise(resampled, mask=foreground)
            normalised[~foreground] = 0.0
            save_nifti_atomic(nib.Nifti1Image(normalised, grid.affine), image_out)
            write_text_atomic(transform_out, json.dumps({"source": str(source), "target_to_source_world": transform.tolist()}) + "\n")
        for column, folder in (("tissue_map", "labels"), ("lesion_mask", "lesions")):
            if not row.get(column):
                new[column] = ""
                continue
            label_source = Path(row[column])
            label_out = out / folder / f"{stem}_{cache_key(label_source, params, key)}.nii.gz"
            if not label_out.is_file():
                label_image = canonical(nib.load(label_source))
                labels = np.rint(np.asarray(label_image.dataobj)).astype(np.uint8)
                resampled = sample_on_grid(labels, label_image.affine, grid.affine, grid.shape, transform, order=0).astype(np.uint8)
                if column == "tissue_map" and params.label_ventricles and not (resampled == 4).any():
                    resampled = _relabel_ventricles(resampled, grid)
                save_nifti_atomic(nib.Nifti1Image(resampled, grid.affine), label_out)
            new[column] = label_out.relative_to(out).as_posix()
    except (OSError, nib.filebasedimages.ImageFileError) as error:
        raise InvalidInputError(f"Cannot preprocess {source} (subject {row['subject_id']}): {error}") from error
    # Volumes measured on the original image no longer apply after resampling/registration.
    return {column: new.get(column, "") for column in COLUMNS}


def preprocess_manifest(manifest: str | Path, out: str | Path, params: PreprocessParams, progress: bool = True) -> Path:
    """Preprocess every row of ``manifest`` into ``out`` and write ``out/manifest.csv``.

    Args:
        manifest: input manifest.
        out: output folder.
        params: target grid and options.
        progress: show a progress bar.

    Returns:
        Path of the new manifest.
    """
    out = Path(out)
    rows = read_manifest(manifest, check_files=True)
    if Path(manifest).resolve() == (out / "manifest.csv").resolve():
        raise InvalidInputError("--out must differ from the input manifest's folder; the input manifest would be overwritten.")
    new_rows = [preprocess_row(row, out, params) for row in tqdm(rows, desc="preprocess", unit="image", disable=not progress)]
    return write_manifest(out / "manifest.csv", new_rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.data.preprocess", description=__doc__.split("\n")[0])
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="output folder (holds the cache and the new manifest.csv)")
    parser.add_argument("--shape", type=int, nargs=3, default=list(DEFAULT_GRID.shape), metavar=("I", "J", "K"))
    parser.add_argument("--spacing", type=float, default=DEFAULT_GRID.spacing[0], help="isotropic spacing in mm")
    parser.add_argument("--register", action="store_true", help="affine registration to the MNI152 T1 template (SimpleITK)")
    parser.add_argument("--label-ventricles", action="store_true", help="label lateral ventricles in tissue maps that only have CSF")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.spacing <= 0 or min(args.shape) < 8:
            raise InvalidInputError(f"Grid {args.shape} at {args.spacing} mm is not usable.")
        params = PreprocessParams(tuple(args.shape), float(args.spacing), args.register, args.label_ventricles)
        path = preprocess_manifest(args.manifest, args.out, params, progress=not args.no_progress)
    except BrainGenError as error:
        logger.error("%s", error)
        return 2
    print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
