"""Lesion inpainting: a region of a real or synthetic volume is regenerated from a prompt."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...core.device import inference_context
from ...core.geometry import Grid
from ...core.progress import CancelToken, EtaClock, ProgressCallback, ProgressEvent
from ...io.source import SourceImage
from ...requests.generation import MAX_SEED
from ...requests.inpaint import DEFAULT_BLEND_MARGIN_MM, ContrastCheck, InpaintRequest
from ...sampling.loop import SamplerRun
from ...sampling.repaint import Resampling
from ..generation import BrainGenPipeline
from .blend import BlendRegion, composite
from .contrast_check import ContrastAttempt, SurroundingTissue
from .inputs import InpaintInputs, prepare_inputs
from .methods import LatentProblem, repaint, sample_with_inpaint_unet
from .model_space import ModelView, build_model_view, encode_image, latent_downsampling, latent_mask, sample_at_voxels
from .outputs import contrast_record, inpaint_provenance

logger = logging.getLogger(__name__)


@dataclass
class InpaintResult:
    """The outputs of one inpainting call, in the source volume's grid.

    Args:
        array: the inpainted volume, in the source's dtype; bit-identical to it outside ``region``.
        lesion_mask: uint8 mask (1 = synthetic lesion region).
        affine: the source's voxel-to-RAS matrix.
        provenance: provenance of ``array``.
        mask_provenance: provenance of ``lesion_mask``.
        region: the composited voxels (mask + blend margin) and their weights.
        model_grid: the grid the model worked on.
        timings: seconds spent per phase (summed over attempts).
        contrast_attempts: each sample's seed and measured lesion contrast, in the order tried.
    """

    array: np.ndarray
    lesion_mask: np.ndarray
    affine: np.ndarray
    provenance: dict[str, Any]
    mask_provenance: dict[str, Any]
    region: BlendRegion
    model_grid: Grid
    timings: dict[str, float] = field(default_factory=dict)
    contrast_attempts: list[ContrastAttempt] = field(default_factory=list)


class LesionInpainter:
    """Regenerates the masked region of a volume so that it shows the prompted lesion.

    Args:
        pipeline: a loaded ``BrainGenPipeline`` (its bundle, text encoder and device are used).
    """

    def __init__(self, pipeline: BrainGenPipeline) -> None:
        self.pipeline = pipeline
        self.config = pipeline.config
        self.device = pipeline.device

    @classmethod
    def from_bundle(cls, path: str | os.PathLike | None = None, device: str = "auto") -> "LesionInpainter":
        """Load ``path`` (default: the embedded bundle) onto ``device``."""
        return cls(BrainGenPipeline.from_bundle(path, device))

    def resolve(self, request: InpaintRequest) -> InpaintRequest:
        """``request`` resolved against this bundle (``InpaintRequest.resolve``)."""
        return request.resolve(self.config)

    def __call__(
        self,
        volume: np.ndarray,
        affine: np.ndarray,
        mask: np.ndarray,
        prompt: str,
        negative_prompt: str | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        sampler: str | None = None,
        seed: int | None = None,
        method: str = "auto",
        blend_margin_mm: float = DEFAULT_BLEND_MARGIN_MM,
        resampling: Resampling | None = None,
        mask_affine: np.ndarray | None = None,
        resample_mask: bool = False,
        attempts: int | None = None,
        min_contrast: float | None = None,
        callback: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> InpaintResult:
        """Inpaint arrays: ``volume`` (i, j, k) with RAS ``affine``, and a lesion ``mask``.

        Args:
            volume: the image; any real dtype, returned in the same dtype.
            affine: its 4x4 voxel-to-RAS matrix (any orientation and spacing).
            mask: lesion mask; non-zero = region to regenerate. In the volume's grid unless ``mask_affine`` is given.
            prompt: the lesion to paint, e.g. "multiple small periventricular lesions".
            negative_prompt: replaces the empty prompt as guidance's unconditional branch (the bundle's
                inpainting default if None; "" for the empty prompt).
            num_inference_steps: sampler steps (bundle default if None).
            guidance_scale: classifier-free guidance weight (bundle default if None).
            sampler: ``dpm++``, ``ddim``, ``euler`` or ``ddpm`` (bundle default if None).
            seed: seed; random (and recorded) if None.
            method: ``auto``, ``repaint`` or ``inpaint_unet``.
            blend_margin_mm: feathered band around the mask; voxels beyond it are untouched.
            resampling: RePaint's jump schedule (``repaint`` only).
            mask_affine: the mask's own voxel-to-RAS matrix, if its grid differs from the volume's.
            resample_mask: with ``mask_affine``, resample the mask instead of refusing a different grid.
            attempts: samples to try when the prompt names a contrast and a sample misses it (default 3).
            min_contrast: lesion / surrounding-tissue margin of that check (default 1.1).
            callback: receives ``ProgressEvent`` after each U-Net evaluation and after decoding.
            cancel: checked before each evaluation.
        """
        params = self.resolve(InpaintRequest(prompt, negative_prompt, num_inference_steps, guidance_scale, sampler, seed,
                                             method, blend_margin_mm, resampling, attempts, min_contrast))
        source = SourceImage(np.asarray(volume), np.asarray(affine, dtype=float))
        mask_image = SourceImage(np.asarray(mask), np.asarray(affine if mask_affine is None else mask_affine, dtype=float))
        inputs = prepare_inputs(source, mask_image, resample_mask)
        return self.inpaint(inputs, params, callback, cancel)

    def inpaint(self, inputs: InpaintInputs, params: InpaintRequest, callback: ProgressCallback | None = None,
                cancel: CancelToken | None = None) -> InpaintResult:
        """Inpaint validated inputs (see ``prepare_inputs``) with a resolved request (see ``resolve``).

        When the prompt names a contrast and a sample misses it (``ContrastCheck``), the next seed is tried,
        up to ``params.attempts`` samples; the result is the first that passes, or else the closest one.
        The provenance records the seed of the returned sample and every attempt's measured contrast.
        """
        timings: dict[str, float] = {}
        start = time.perf_counter()
        view = build_model_view(inputs, self.config, params.blend_margin_mm)
        region = np.zeros(inputs.volume.shape, dtype=bool)
        region[view.region.indices] = True
        check = params.contrast
        surrounding = SurroundingTissue(inputs.volume.array, inputs.mask, region, inputs.foreground,
                                        inputs.volume.spacing, view.intensity) if check.requested else None
        timings["prepare_seconds"] = time.perf_counter() - start
        logger.info("Inpainting %d voxels (%.2f ml) of %s with %s on a %s model grid.", inputs.mask_voxels,
                    inputs.mask_volume_ml, inputs.volume.name, params.method, "x".join(map(str, view.grid.shape)))
        if check.requested and surrounding.reference is None:
            logger.warning("No tissue with signal surrounds the mask, so the lesion's %s contrast cannot be checked; "
                           "keeping the first sample.", check.requested)
            check = ContrastCheck(None, check.min_ratio)
        problem = self.latent_problem(view, params, timings)
        array, used, tried = self._sample_until_contrast(inputs, view, problem, params, check, surrounding, callback,
                                                         cancel, timings)
        changed = int(np.count_nonzero(array[view.region.indices] != inputs.volume.array[view.region.indices]))
        timings["total_seconds"] = time.perf_counter() - start
        device = str(self.device)
        check_record = contrast_record(params.contrast, check, surrounding.reference if surrounding else None, tried,
                                       used)
        return InpaintResult(
            array=array,
            lesion_mask=inputs.mask.astype(np.uint8),
            affine=inputs.volume.affine.copy(),
            provenance=inpaint_provenance(self.config, inputs, params, view, device, changed, "volume", used.seed,
                                          check_record),
            mask_provenance=inpaint_provenance(self.config, inputs, params, view, device, changed, "lesion_mask",
                                               used.seed, check_record),
            region=view.region,
            model_grid=view.grid,
            timings=timings,
            contrast_attempts=tried,
        )

    def _sample_until_contrast(self, inputs: InpaintInputs, view: ModelView, problem: LatentProblem,
                               params: InpaintRequest, check: ContrastCheck, surrounding: SurroundingTissue | None,
                               callback: ProgressCallback | None, cancel: CancelToken | None, timings: dict[str, float]
                               ) -> tuple[np.ndarray, ContrastAttempt, list[ContrastAttempt]]:
        """Composited samples with seeds ``seed``, ``seed + 1`` ... until one passes ``check`` (one when nothing is checked).

        Returns the passing (or else the closest) volume, its attempt, and every attempt in order.
        """
        attempts = params.attempts if check.requested else 1
        tried: list[ContrastAttempt] = []
        best: tuple[np.ndarray, ContrastAttempt] | None = None
        for attempt in range(attempts):
            seed = (params.generation.seed + attempt) % (MAX_SEED + 1)
            generated = self.sample(problem, params, seed, attempt, attempts, callback, cancel, timings)
            compose_start = time.perf_counter()
            values = view.intensity.to_input_scale(sample_at_voxels(generated, view.grid, view.region.indices,
                                                                    inputs.volume.affine))
            array = composite(inputs.volume.array, view.region, values)
            timings["composite_seconds"] = timings.get("composite_seconds", 0.0) + time.perf_counter() - compose_start
            ratio = surrounding.ratio(array) if surrounding is not None else float("nan")
            tried.append(ContrastAttempt(seed, ratio, check.passes(ratio)))
            if best is None or tried[-1].passed or check.better(ratio, best[1].ratio):
                best = (array, tried[-1])
            if tried[-1].passed:
                break
            if attempt + 1 < attempts:
                logger.info("Attempt %d/%d (seed %d): lesion/surrounding %.3f misses the %s margin %.2f; trying the "
                            "next seed.", attempt + 1, attempts, seed, ratio, check.requested, check.min_ratio)
        array, used = best
        if not used.passed:
            logger.warning("No %s lesion after %d attempt(s): the returned sample (seed %d) has lesion/surrounding %.3f, "
                           "short of %.2f. Try another seed, a larger mask or more attempts.", check.requested,
                           len(tried), used.seed, used.ratio, check.min_ratio)
        return array, used, tried

    def latent_problem(self, view: ModelView, params: InpaintRequest, timings: dict[str, float] | None = None
                       ) -> LatentProblem:
        """The encoded source, the latent-grid mask and the prompt context (shared by every attempt)."""
        g = params.generation
        started = time.perf_counter()
        with inference_context(self.device):
            problem = LatentProblem(
                clean_latent=encode_image(self.pipeline.bundle.autoencoder, view.image, self.config.scale_factor, self.device),
                mask=latent_mask(view.mask, latent_downsampling(self.config), self.device),
                conditioning=self.pipeline.encode_prompts(g.prompt, g.negative_prompt),
                guidance_scale=g.guidance_scale,
            )
        if timings is not None:
            timings["encode_seconds"] = time.perf_counter() - started
        return problem

    def sample(self, problem: LatentProblem, params: InpaintRequest, seed: int, attempt: int = 0, attempts: int = 1,
               callback: ProgressCallback | None = None, cancel: CancelToken | None = None,
               timings: dict[str, float] | None = None) -> np.ndarray:
        """One sample with ``seed``: the model-grid image in [0, 1], the masked region generated (the rest reconstructed).

        Progress events count ``attempt + 1`` of ``attempts`` in their ``volume`` / ``num_volumes`` fields.
        """
        timings = {} if timings is None else timings
        g = params.generation
        run = SamplerRun(g.sampler, self.config.noise_scheduler, g.steps, seed, self.device)
        evaluations = params.model_evaluations
        clock = EtaClock(evaluations + 1)

        def on_step(step: int, steps: int) -> None:
            elapsed, eta = clock.tick()
            if callback is not None:
                callback(ProgressEvent("denoise", step, steps, attempt + 1, attempts, elapsed, eta))

        with inference_context(self.device):
            denoise_start = time.perf_counter()
            if params.method == "inpaint_unet":
                latent = sample_with_inpaint_unet(self.pipeline.bundle.inpaint_unet, problem, run, on_step, cancel)
            else:
                latent = repaint(self.pipeline.bundle.unet, problem, run, params.resampling, on_step, cancel)
            timings["denoise_seconds"] = timings.get("denoise_seconds", 0.0) + time.perf_counter() - denoise_start
            if cancel is not None:
                cancel.check()
            decode_start = time.perf_counter()
            image = self.pipeline.decode(latent)
            timings["decode_seconds"] = timings.get("decode_seconds", 0.0) + time.perf_counter() - decode_start
        elapsed, eta = clock.tick()
        if callback is not None:
            callback(ProgressEvent("decode", evaluations, evaluations, attempt + 1, attempts, elapsed, eta))
        return image
