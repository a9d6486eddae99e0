"""File-to-file inpainting as the CLI and the worker run it: check everything, then load the model."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ...bundle import default_bundle_path, read_config
from ...core.progress import CancelToken, ProgressCallback
from .inpainter import InpaintResult, LesionInpainter
from .inputs import InpaintInputs, prepare_inputs
from ...requests.inpaint import DEFAULT_BLEND_MARGIN_MM, InpaintParameters, validate_inpaint
from ...sampling.repaint import Resampling
from ...io.source import read_source


@dataclass
class InpaintJob:
    """A checked inpainting request: inputs read and validated, parameters resolved against the bundle."""

    inputs: InpaintInputs
    params: InpaintParameters
    bundle_path: Path


def plan_inpaint_job(volume_path: str | os.PathLike, mask_path: str | os.PathLike, prompt: str | None,
                     bundle: str | os.PathLike | None = None, negative_prompt: str | None = None, steps: int | None = None,
                     guidance: float | None = None, sampler: str | None = None, seed: int | None = None,
                     method: str = "auto", blend_margin_mm: float | None = DEFAULT_BLEND_MARGIN_MM,
                     resample_mask: bool = False, resampling: Resampling | None = None, attempts: int | None = None,
                     min_contrast: float | None = None) -> InpaintJob:
    """Read the bundle's config and both files and validate everything, without loading any network.

    Args:
        volume_path: the volume to edit (NIfTI or NRRD, any orientation and spacing).
        mask_path: its lesion mask (non-zero = region to regenerate).
        prompt: the lesion to paint.
        bundle: the bundle folder (default: the embedded bundle).
        negative_prompt, steps, guidance, sampler, seed, method, blend_margin_mm, resampling, attempts,
            min_contrast: see ``validate_inpaint``.
        resample_mask: resample a mask whose grid differs from the volume's instead of refusing it.
    """
    bundle_path = Path(bundle) if bundle else default_bundle_path()
    config = read_config(bundle_path)
    params = validate_inpaint(config, prompt, negative_prompt, steps, guidance, sampler, seed, method, blend_margin_mm,
                              resampling, attempts, min_contrast)
    inputs = prepare_inputs(read_source(volume_path, "volume"), read_source(mask_path, "mask"), resample_mask)
    return InpaintJob(inputs, params, bundle_path)


def run_inpaint_job(job: InpaintJob, device: str = "auto", callback: ProgressCallback | None = None,
                    cancel: CancelToken | None = None) -> InpaintResult:
    """Load the bundle onto ``device`` and inpaint."""
    return LesionInpainter.from_bundle(job.bundle_path, device).inpaint(job.inputs, job.params, callback, cancel)
