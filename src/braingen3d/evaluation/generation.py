"""Generating the volumes to evaluate with the bundle, one prompt and seed each."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from .engine_adapter import write_generated_volume
from .prompts import GenerationRequest
from .volumes import Sample

logger = logging.getLogger(__name__)


def generate_samples(generator: Any, requests: list[GenerationRequest], steps: int | None, guidance: float | None,
                     sampler: str | None, keep_in: Path | None = None, show_progress: bool = True) -> list[Sample]:
    """Generate one volume per request.

    Args:
        generator: a loaded pipeline (``engine_adapter.load_generator``).
        requests: what to generate.
        steps: sampler steps (None: the bundle's).
        guidance: guidance scale (None: the bundle's).
        sampler: sampler name (None: the bundle's).
        keep_in: if given, each volume is also written there as ``<name>.nii.gz`` with its JSON sidecar.
        show_progress: show a progress bar on stderr.
    """
    from tqdm import tqdm

    samples = []
    start = time.perf_counter()
    bar = tqdm(requests, desc="generating", unit="volume", disable=not show_progress, dynamic_ncols=True)
    try:
        for request in bar:
            bar.set_postfix_str(request.modality)
            output = generator(request.prompt, "", steps, guidance, sampler, request.seed)
            volume = output.volumes[0]
            if keep_in is not None:
                volume.provenance = {**volume.provenance, "modality": request.modality,
                                     "evaluation_subject": request.subject}
                write_generated_volume(volume, keep_in / f"{request.name}.nii.gz")
            provenance = volume.provenance
            samples.append(Sample(request.name, request.subject, request.modality,
                                  np.clip(volume.array, 0.0, 1.0).astype(np.float32),
                                  info={"prompt": request.prompt, "seed": request.seed,
                                        "steps": provenance.get("steps"), "guidance_scale": provenance.get("guidance_scale"),
                                        "sampler": provenance.get("sampler")}))
    finally:
        bar.close()
    elapsed = time.perf_counter() - start
    logger.info("Generated %d volumes in %.0f s (%.1f s each).", len(samples), elapsed, elapsed / max(1, len(samples)))
    return samples
