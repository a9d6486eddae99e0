"""Generate the template-derived synthetic cohort.

Example::

    python -m training.cohort.generate --out cache/cohort --subjects 240 --held-out 24 \\
        --modalities T1 T2 FLAIR PD --seed 0

writes ``images/<subject>_<modality>.nii.gz``, ``labels/<subject>.nii.gz``,
``lesions/<subject>.nii.gz``, ``manifest.csv``, ``norms.json`` and ``cohort.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from tqdm import tqdm

from braingen3d.core.errors import BrainGenError, InvalidInputError, OutputExistsError
from braingen3d.core.geometry import DEFAULT_GRID, Grid, mni_grid

from ..captions.measure import MEASUREMENT_COLUMNS, structure_volumes
from ..captions.norms import CohortNorms
from ..data.atomic import save_nifti_atomic, write_text_atomic
from ..data.manifest import write_manifest
from .deform import VentricleFlow, ventricle_flow
from .population import sample_attributes
from .render import MODALITIES
from .subject import synthesize_subject
from .templates import load_templates

logger = logging.getLogger(__name__)

DATASET_NAME = "BrainGen3D-template-cohort"
COHORT_FORMAT_VERSION = 1
DESCRIPTION = "BrainGen3D synthetic template-derived subject (not a real patient)"


@dataclass(frozen=True)
class CohortSpec:
    """What to generate.

    Attributes:
        out: output folder.
        subjects: number of training subjects.
        held_out: number of held-out (test) subjects.
        modalities: modalities rendered for every subject.
        seed: master seed; subject ``i`` uses ``numpy.random.default_rng([seed, i])``.
        grid: target grid.
        noise_fraction: Rician noise sigma relative to the WM signal.
    """

    out: Path
    subjects: int
    held_out: int
    modalities: tuple[str, ...]
    seed: int
    grid: Grid
    noise_fraction: float = 0.01


def subject_id(index: int) -> str:
    """Identifier of subject ``index`` (``syn0000``...)."""
    return f"syn{index:04d}"


def _nifti(array: np.ndarray, grid: Grid) -> nib.Nifti1Image:
    image = nib.Nifti1Image(array, grid.affine)
    image.header.set_xyzt_units("mm")
    image.header["descrip"] = DESCRIPTION[:79].encode()
    image.set_qform(grid.affine, code=4)  # 4 = MNI152 space
    image.set_sform(grid.affine, code=4)
    return image


_WORKER_STATE: dict = {}


def _prepare(spec: CohortSpec) -> None:
    templates = load_templates(spec.grid)
    _WORKER_STATE["spec"] = spec
    _WORKER_STATE["templates"] = templates
    _WORKER_STATE["flow"] = ventricle_flow(spec.grid)


def _make_subject(index: int) -> dict:
    """Generate, write and measure subject ``index``; returns its cohort.json entry."""
    spec: CohortSpec = _WORKER_STATE["spec"]
    grid = spec.grid
    rng = np.random.default_rng([spec.seed, index])
    split = "train" if index < spec.subjects else "test"
    attributes = sample_attributes(rng, subject_id(index), split, list(spec.modalities))
    volumes = synthesize_subject(_WORKER_STATE["templates"], _WORKER_STATE["flow"], attributes, rng, spec.modalities, spec.noise_fraction)
    sid = attributes.subject_id
    for modality, image in volumes.images.items():
        save_nifti_atomic(_nifti(image.astype(np.float32), grid), spec.out / "images" / f"{sid}_{modality}.nii.gz")
    save_nifti_atomic(_nifti(volumes.labels, grid), spec.out / "labels" / f"{sid}.nii.gz")
    save_nifti_atomic(_nifti(volumes.lesion_mask, grid), spec.out / "lesions" / f"{sid}.nii.gz")
    return {
        "attributes": attributes.to_dict(),
        "measured": structure_volumes(volumes.labels, grid.affine, volumes.lesion_mask),
        "lesions": [lesion.to_dict() for lesion in volumes.lesions],
    }


def manifest_rows(entries: list[dict], modalities: tuple[str, ...]) -> list[dict]:
    """Manifest rows (one per subject and modality) with measurement columns."""
    rows = []
    for entry in entries:
        attributes, measured = entry["attributes"], entry["measured"]
        sid = attributes["subject_id"]
        for modality in modalities:
            row = {
                "subject_id": sid,
                "image": f"images/{sid}_{modality}.nii.gz",
                "modality": modality,
                "age": attributes["age"],
                "sex": attributes["sex"],
                "tissue_map": f"labels/{sid}.nii.gz",
                "lesion_mask": f"lesions/{sid}.nii.gz",
                "dataset": DATASET_NAME,
                "caption": "",
                "split": attributes["split"],
            }
            row.update({column: f"{measured[column]:.3f}" if isinstance(measured[column], float) else measured[column] for column in MEASUREMENT_COLUMNS})
            rows.append(row)
    return rows


def generate_cohort(spec: CohortSpec, workers: int = 1, overwrite: bool = False, progress: bool = True) -> dict:
    """Generate the cohort described by ``spec`` and write all its files.

    Args:
        spec: what to generate.
        workers: processes (1 = in this process). Output does not depend on it.
        overwrite: replace an existing cohort in ``spec.out``.
        progress: show a tqdm progress bar.

    Returns:
        The cohort.json content.

    Raises:
        OutputExistsError: if ``spec.out`` already holds a cohort and ``overwrite`` is false.
    """
    unknown = [m for m in spec.modalities if m not in MODALITIES]
    if unknown:
        raise InvalidInputError(f"Unknown modalities {unknown}; choose from {list(MODALITIES)}.")
    if spec.subjects < 5:
        raise InvalidInputError(f"At least 5 training subjects are needed to fit norms; got {spec.subjects}.")
    if spec.held_out < 0:
        raise InvalidInputError(f"--held-out must be >= 0; got {spec.held_out}.")
    if (spec.out / "manifest.csv").exists() and not overwrite:
        raise OutputExistsError(f"{spec.out} already holds a cohort (manifest.csv); choose another --out or pass --overwrite.")
    start = time.perf_counter()
    _prepare(spec)
    total = spec.subjects + spec.held_out
    logger.info("Generating %d subjects (%d held out) on a %s grid at %s mm.", total, spec.held_out, spec.grid.shape, spec.grid.spacing)
    indices = range(total)
    bar = tqdm(total=total, desc="subjects", unit="subject", disable=not progress)
    if workers > 1:
        context = multiprocessing.get_context("fork")
        with context.Pool(workers) as pool:
            entries = []
            for entry in pool.imap(_make_subject, indices):
                entries.append(entry)
                bar.update()
    else:
        entries = []
        for index in indices:
            entries.append(_make_subject(index))
            bar.update()
    bar.close()

    train = [{**e["attributes"], **e["measured"]} for e in entries if e["attributes"]["split"] == "train"]
    norms = CohortNorms.fit(train, source=f"{DATASET_NAME}, seed {spec.seed}, {len(train)} training subjects")
    norms.save(spec.out / "norms.json")
    flow: VentricleFlow = _WORKER_STATE["flow"]
    cohort = {
        "format_version": COHORT_FORMAT_VERSION,
        "dataset": DATASET_NAME,
        "description": "Subjects derived from the MNI152 2009 templates (nilearn package data) by random smooth warps, "
        "age-driven ventricle enlargement and cortical thinning, sex-driven size and white-matter lesions, with rendered "
        "T1/T2/FLAIR/PD contrasts. A demonstration population, not real patients.",
        "parameters": {
            "subjects": spec.subjects,
            "held_out": spec.held_out,
            "modalities": list(spec.modalities),
            "seed": spec.seed,
            "noise_fraction": spec.noise_fraction,
            "grid": spec.grid.to_dict(),
            "ventricle_flow_calibration": {"amplitude_mm": flow.amplitudes.tolist(), "volume_ratio": flow.volume_ratios.tolist()},
        },
        "wall_time_s": round(time.perf_counter() - start, 1),
        "subjects": entries,
    }
    write_text_atomic(spec.out / "cohort.json", json.dumps(cohort, indent=1) + "\n")
    # The manifest is written last: its presence marks a complete cohort.
    write_manifest(spec.out / "manifest.csv", manifest_rows(entries, spec.modalities), extra_columns=MEASUREMENT_COLUMNS)
    logger.info("Cohort written to %s in %.0f s.", spec.out, cohort["wall_time_s"])
    return cohort


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.cohort.generate", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--subjects", type=int, default=240, help="training subjects (default 240)")
    parser.add_argument("--held-out", type=int, default=24, help="held-out test subjects (default 24)")
    parser.add_argument("--modalities", nargs="+", default=list(MODALITIES), choices=MODALITIES, help="modalities to render")
    parser.add_argument("--seed", type=int, default=0, help="master seed (default 0)")
    parser.add_argument("--shape", type=int, nargs=3, default=None, metavar=("I", "J", "K"), help="grid shape (default 80 96 80)")
    parser.add_argument("--spacing", type=float, default=None, help="isotropic spacing in mm (default 2)")
    parser.add_argument("--noise", type=float, default=0.01, help="noise sigma as a fraction of the WM signal (default 0.01)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1; output is identical)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing cohort in --out")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def grid_from_args(shape: list[int] | None, spacing: float | None) -> Grid:
    """The default grid, or an MNI grid of the given shape and spacing (scaling the other to keep the extent)."""
    if shape is None and spacing is None:
        return DEFAULT_GRID
    default_spacing = DEFAULT_GRID.spacing[0]
    if spacing is None:
        spacing = default_spacing
    if shape is None:
        shape = [int(round(s * default_spacing / spacing)) for s in DEFAULT_GRID.shape]
    if spacing <= 0 or min(shape) < 8:
        raise InvalidInputError(f"Grid {shape} at {spacing} mm is too small; use a shape of at least 8 voxels per axis.")
    return mni_grid(tuple(shape), spacing)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        spec = CohortSpec(
            out=args.out,
            subjects=args.subjects,
            held_out=args.held_out,
            modalities=tuple(dict.fromkeys(args.modalities)),
            seed=args.seed,
            grid=grid_from_args(args.shape, args.spacing),
            noise_fraction=args.noise,
        )
        cohort = generate_cohort(spec, workers=args.workers, overwrite=args.overwrite, progress=not args.no_progress)
    except BrainGenError as error:
        logger.error("%s", error)
        return 2
    print(f"Wrote {len(cohort['subjects'])} subjects to {spec.out} in {cohort['wall_time_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
