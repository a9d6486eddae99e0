"""Which step count is enough? Samples from fast samplers against a 200-step DDIM reference.

Every sampler starts from the same seeded noise, so a converged sampler reproduces the reference.
Prints one Markdown table (SSIM and PSNR inside the brain, and seconds per volume).

    python -m training.diagnostics.sampler_quality [--bundle DIR] [--seeds 4]
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
from scipy import ndimage

from braingen3d import metrics
from braingen3d.pipelines.generation import BrainGenPipeline

PROMPTS = (
    "T1-weighted MRI of a 45-year-old man with normal ventricles",
    "T2-weighted MRI of a 72-year-old woman with enlarged ventricles",
    "FLAIR MRI of a 60-year-old man with multiple white-matter lesions",
    "proton-density-weighted MRI of a 30-year-old woman",
)
CANDIDATES = (("dpm++", 10), ("dpm++", 15), ("dpm++", 20), ("dpm++", 25), ("ddim", 25), ("ddim", 50))
REFERENCE = ("ddim", 200)


def brain_mask(image: np.ndarray) -> np.ndarray:
    return ndimage.binary_fill_holes(image > 0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", default=None)
    parser.add_argument("--seeds", type=int, default=2, help="seeds per prompt")
    parser.add_argument("--guidance", type=float, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    pipeline = BrainGenPipeline.from_bundle(args.bundle, "auto")
    cases = [(p, 500 + s) for p in PROMPTS for s in range(args.seeds)]
    references = {}
    for prompt, seed in cases:
        references[(prompt, seed)] = pipeline(prompt, num_inference_steps=REFERENCE[1], sampler=REFERENCE[0],
                                              guidance_scale=args.guidance, seed=seed).volumes[0].array
    print(f"Reference: {REFERENCE[0]} {REFERENCE[1]} steps; {len(cases)} volumes ({len(PROMPTS)} prompts x {args.seeds} seeds).")
    print("| sampler | steps | SSIM to reference | PSNR to reference (dB) | s / volume |")
    print("| --- | --- | --- | --- | --- |")
    for sampler, steps in CANDIDATES:
        ssims, psnrs, seconds = [], [], []
        for prompt, seed in cases:
            start = time.perf_counter()
            image = pipeline(prompt, num_inference_steps=steps, sampler=sampler, guidance_scale=args.guidance,
                             seed=seed).volumes[0].array
            seconds.append(time.perf_counter() - start)
            reference = references[(prompt, seed)]
            mask = brain_mask(reference)
            ssims.append(metrics.ssim(reference, image, mask))
            psnrs.append(metrics.psnr(reference, image, mask))
        print(f"| {sampler} | {steps} | {np.mean(ssims):.3f} | {np.mean(psnrs):.1f} | {np.mean(seconds):.1f} |")


if __name__ == "__main__":
    main()
