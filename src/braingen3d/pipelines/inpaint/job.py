"""File-to-file inpainting as the CLI and the worker run it: check everything, then load the model."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ...bundle import default_bundle_path, read_config
from ...core.progress import CancelToken, ProgressCallback
from ...io.source import read_source
from ...requests.inpaint import InpaintRequest
from .inputs import InpaintInputs, prepare_inputs

if TYPE_CHECKING:
    from ..generation import BrainGenPipeline
    from .inpainter import InpaintResult


@dataclass
class InpaintJob:
    """A checked inpainting job: inputs read and validated, the request resolved against the bundle."""

    inputs: InpaintInputs
    params: InpaintRequest
    bundle_path: Path


def plan_inpaint_job(volume_path: str | os.PathLike, mask_path: str | os.PathLike, request: InpaintRequest,
                     bundle: str | os.PathLike | None = None, resample_mask: bool = False) -> InpaintJob:
    """Read the bundle's config and both files and resolve the request, without loading any network.

    Args:
        volume_path: the volume to edit (NIfTI or NRRD, any orientation and spacing).
        mask_path: its lesion mask (non-zero = region to regenerate).
        request: what to paint and how (resolved here against the bundle).
        bundle: the bundle folder (default: the embedded bundle).
        resample_mask: resample a mask whose grid differs from the volume's instead of refusing it.
    """
    bundle_path = Path(bundle) if bundle else default_bundle_path()
    params = request.resolve(read_config(bundle_path))
    inputs = prepare_inputs(read_source(volume_path, "volume"), read_source(mask_path, "mask"), resample_mask)
    return InpaintJob(inputs, params, bundle_path)


def run_inpaint_job(job: InpaintJob, device: str = "auto", callback: ProgressCallback | None = None,
                    cancel: CancelToken | None = None, pipeline: "BrainGenPipeline | None" = None) -> InpaintResult:
    """Load the bundle onto ``device`` and inpaint (or use ``pipeline``, the job's bundle already loaded)."""
    from .inpainter import LesionInpainter  # torch and the networks: only once the job is checked

    inpainter = LesionInpainter(pipeline) if pipeline is not None else LesionInpainter.from_bundle(job.bundle_path, device)
    return inpainter.inpaint(job.inputs, job.params, callback, cancel)
