"""Writing an inpainting result: the volume and the lesion mask, each with its provenance in a JSON sidecar, all
or nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...bundle import BundleConfig
from ...core.device import precision_name
from ...core.errors import InvalidInputError
from ...core.provenance import make_provenance
from ...io import atomic_write_text, sidecar_path, write_nifti, write_nrrd
from ...io.nifti import NIFTI_XFORM_SCANNER
from ...io.output_set import check_output_set, writing_output_set
from ...io.paths import image_output_suffix, stem, volume_suffix
from ...requests.inpaint import ContrastCheck, InpaintRequest
from .inputs import InpaintInputs

if TYPE_CHECKING:
    from .contrast_check import ContrastAttempt
    from .model_space import ModelView

LESION_MASK_SUFFIX = "_lesion_mask"


@dataclass(frozen=True)
class InpaintOutputPaths:
    """Where the inpainted volume and its lesion mask go (sidecars sit beside each)."""

    volume: Path
    lesion_mask: Path

    @classmethod
    def beside(cls, volume: Path, lesion_mask: Path | None = None) -> "InpaintOutputPaths":
        """``brain.nii.gz`` → mask ``brain_lesion_mask.nii.gz`` unless ``lesion_mask`` is given."""
        volume = Path(volume)
        mask = Path(lesion_mask) if lesion_mask else volume.with_name(stem(volume) + LESION_MASK_SUFFIX + volume_suffix(volume))
        return cls(volume, mask)

    @classmethod
    def in_folder(cls, folder: Path, source_name: str, seed: int, tag: str = "") -> "InpaintOutputPaths":
        """Worker naming: ``<source>_inpainted_seed<seed><tag>.nii.gz`` and ``..._lesion_mask_...``."""
        base = source_name
        for suffix in (".nii.gz", ".nii", ".nrrd", ".nhdr"):
            if base.lower().endswith(suffix):
                base = base[: -len(suffix)]
                break
        folder = Path(folder)
        return cls(folder / f"{base}_inpainted_seed{seed}{tag}.nii.gz", folder / f"{base}{LESION_MASK_SUFFIX}_seed{seed}{tag}.nii.gz")

    def files(self) -> list[Path]:
        return [self.volume, sidecar_path(self.volume), self.lesion_mask, sidecar_path(self.lesion_mask)]

    def before_volume(self) -> list[Path]:
        """The files written before the volume, which is written last and marks the set finished."""
        return [sidecar_path(self.volume), sidecar_path(self.lesion_mask), self.lesion_mask]


def check_inpaint_outputs(paths: InpaintOutputPaths, overwrite: bool, sources: list[Path | None]) -> None:
    """Fail before any work if an output exists (without ``overwrite``), is unwritable, or would replace an input.

    Files an interrupted write left without the volume (its sidecars and mask) are not in the way."""
    for path in (paths.volume, paths.lesion_mask):
        image_output_suffix(path)
    files = paths.files()
    if len({f.resolve() for f in files}) != len(files):
        raise InvalidInputError(f"The volume output {paths.volume} and the lesion-mask output {paths.lesion_mask} "
                                "collide; choose different names.")
    protected = {Path(s).resolve() for s in sources if s is not None}
    for target in files:
        if target.resolve() in protected:
            raise InvalidInputError(f"The output {target} would replace an input file. Choose another output path; "
                                    "inputs are never overwritten.")
    check_output_set(paths.volume, paths.before_volume(), overwrite)


def _write_image(path: Path, array: np.ndarray, affine: np.ndarray, provenance: dict[str, Any], overwrite: bool,
                 xform_code: int, qform_code: int | None) -> Path:
    if volume_suffix(path) == ".nrrd":
        return write_nrrd(path, array, affine, provenance, overwrite)
    return write_nifti(path, array, affine, provenance, overwrite, xform_code, qform_code=qform_code)


def write_inpaint_outputs(result, paths: InpaintOutputPaths, overwrite: bool = False,
                          xform_code: int = NIFTI_XFORM_SCANNER, qform_code: int | None = None) -> list[Path]:
    """Write ``result`` (an ``InpaintResult``): sidecars first, then the mask, then the volume.

    Each file is written atomically and the volume last, so the volume is there only when the rest is: a killed
    write leaves no volume, and the next call replaces its sidecars, mask and hidden temporaries without
    ``overwrite`` (see :mod:`braingen3d.io.output_set`). With ``overwrite`` an existing volume is removed first.
    If a write fails, the files this call already wrote are removed.

    Args:
        result: the inpainting result.
        paths: where to write.
        overwrite: replace existing files.
        xform_code: NIfTI sform code (the source's, so the output stays in the same space).
        qform_code: NIfTI qform code (the source's; ``xform_code`` if None).
    """
    with writing_output_set(paths.volume, paths.before_volume(), overwrite) as (replaceable, written):
        for path, provenance in ((paths.volume, result.provenance), (paths.lesion_mask, result.mask_provenance)):
            sidecar = sidecar_path(path)
            atomic_write_text(sidecar, json.dumps(provenance, indent=2, sort_keys=True) + "\n", sidecar in replaceable)
            written.append(sidecar)
        written.append(_write_image(paths.lesion_mask, result.lesion_mask.astype(np.uint8), result.affine,
                                    result.mask_provenance, paths.lesion_mask in replaceable, xform_code, qform_code))
        written.append(_write_image(paths.volume, result.array, result.affine, result.provenance, overwrite,
                                    xform_code, qform_code))
    return written


SYNTHETIC_REGION_NOTE = (
    "Only the voxels inside the lesion mask and its blend margin are synthetic (feathered from generated to original "
    "across the margin); every other voxel is copied bit-identically from the source volume."
)
MASK_NOTE = "Binary mask (1 = synthetic lesion region) in the source volume's grid."


def contrast_record(asked: ContrastCheck, check: ContrastCheck, reference: float | None,
                    attempts: list[ContrastAttempt], used: ContrastAttempt) -> dict[str, Any]:
    """The contrast check as the provenance records it.

    ``asked`` is what the prompt asked for; ``check`` what was checked (``requested`` None when the prompt
    named no contrast, or when no tissue around the mask allowed a check: ``checked`` is then false).
    """
    return {
        "requested": asked.requested,
        "checked": check.requested is not None,
        "min_ratio": check.min_ratio,
        "surrounding_median_model_scale": None if reference is None else round(reference, 6),
        "attempts": [{"seed": a.seed, "ratio": None if a.ratio != a.ratio else round(a.ratio, 4), "passed": a.passed}
                     for a in attempts] if check.requested else [],
        "passed": used.passed if check.requested else None,
    }


def inpaint_provenance(config: BundleConfig, inputs: InpaintInputs, params: InpaintRequest, view: ModelView,
                       device: str, changed_voxels: int, role: str = "volume", seed: int | None = None,
                       contrast: dict[str, Any] | None = None) -> dict[str, Any]:
    """The provenance record of an inpainting output.

    Args:
        config: the bundle used.
        inputs: the source volume and mask.
        params: the validated parameters.
        view: the model grid and intensity map used.
        device: where the networks ran.
        changed_voxels: how many voxels differ from the source volume.
        role: ``volume`` (the inpainted image) or ``lesion_mask``.
        seed: the seed of the returned sample (default: the requested one); rerunning with it and one
            attempt reproduces the output.
        contrast: the contrast check's record (``contrast_record``).
    """
    g = params.generation
    mask_file = inputs.mask_source
    record = make_provenance(
        "inpaint", config.bundle_id, config.version,
        role=role,
        prompt=g.prompt, negative_prompt=g.negative_prompt, seed=g.seed if seed is None else seed, steps=g.steps,
        guidance_scale=g.guidance_scale, sampler=g.sampler, device=device, precision=precision_name(device), index=0, num_volumes=1,
        method=params.method, blend_margin_mm=params.blend_margin_mm,
        source_volume=inputs.volume.name, source_volume_sha256=inputs.volume.sha256,
        source_mask=mask_file.name if mask_file else None, source_mask_sha256=mask_file.sha256 if mask_file else None,
        mask_voxels=inputs.mask_voxels, mask_volume_ml=round(inputs.mask_volume_ml, 4),
        blend_region_voxels=view.region.size, changed_voxels=changed_voxels,
        synthetic_region="lesion_mask_plus_blend_margin",
        notes=MASK_NOTE + " " + SYNTHETIC_REGION_NOTE if role == "lesion_mask" else SYNTHETIC_REGION_NOTE,
        shape=list(inputs.volume.shape), spacing_mm=list(inputs.volume.spacing),
        model_grid=view.grid.to_dict(), intensity_map=view.intensity.to_dict(),
    )
    record["requested_seed"] = g.seed
    record["max_attempts"] = params.attempts
    if contrast is not None:
        record["contrast_check"] = contrast
    if params.method == "repaint":
        r = params.resampling
        record["resampling"] = {"rounds": r.rounds, "jump_length": r.jump_length, "stop_fraction": r.stop_fraction}
    return record
