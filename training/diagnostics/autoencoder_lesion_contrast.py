"""Does a bundle's autoencoder keep a small lesion's contrast? (An upper bound for lesion inpainting.)

For held-out cohort volumes it paints a sphere in deep white matter at ``--ratio`` times the mean
of the white matter around it (the inpainting report's measure), encodes and decodes the volume
(posterior mean), and prints the ratio the reconstruction keeps and how much of the painted
contrast (ratio - 1) survives, per modality. If the reconstruction keeps the
ratio, a faint inpainted lesion is the inpainting U-Net's doing, not the decoder's.

    python -m training.diagnostics.autoencoder_lesion_contrast --manifest cache/cohort/manifest.csv [--bundle DIR]

(run it as a module from the repository root: it uses the training folder's held-out selection)
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from braingen3d.pipelines.generation import BrainGenPipeline
from braingen3d.pipelines.inpaint.contrast_check import lesion_contrast
from braingen3d.pipelines.inpaint.model_space import encode_image
from training.evaluation.inpainting import (
    HYPERINTENSE_MODALITIES,
    WHITE_MATTER_LABEL,
    deep_white_matter_centre,
    held_out_rows,
    sphere,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", default=None, help="bundle folder (default: the embedded bundle)")
    parser.add_argument("--manifest", type=Path, required=True, help="cohort manifest with a test split")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--radius-mm", type=float, default=5.0)
    parser.add_argument("--ratio", type=float, default=1.4, help="painted lesion / surrounding white matter")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    pipeline = BrainGenPipeline.from_bundle(args.bundle, "cpu")
    rng = np.random.default_rng(0)
    print(f"bundle {pipeline.config.bundle_id} {pipeline.config.version}; {args.radius_mm:g} mm-radius sphere "
          f"painted at {args.ratio:g}x the surrounding white matter")
    print("| subject | modality | painted ratio | reconstructed ratio |")
    print("| --- | --- | --- | --- |")
    kept: dict[str, list[float]] = {}
    for row in held_out_rows(args.manifest, HYPERINTENSE_MODALITIES, args.trials):
        image = nib.load(str(args.manifest.parent / row["image"]))
        volume = np.asarray(image.dataobj, dtype=np.float32)
        white_matter = np.asarray(nib.load(str(args.manifest.parent / row["tissue_map"])).dataobj) == WHITE_MATTER_LABEL
        spacing = tuple(float(s) for s in image.header.get_zooms()[:3])
        mask = sphere(volume.shape, deep_white_matter_centre(white_matter, args.radius_mm / spacing[0], rng),
                      args.radius_mm / spacing[0])
        surround = lesion_contrast(volume, volume, mask, white_matter, spacing).surround_wm_mean
        painted = volume.copy()
        painted[mask] = args.ratio * surround
        with torch.inference_mode():
            reconstructed = pipeline.decode(encode_image(pipeline.bundle.autoencoder, painted, pipeline.config.scale_factor,
                                                         pipeline.device))
        # original_ratio is the painted one: one measurement gives both ratios.
        contrast = lesion_contrast(painted, reconstructed, mask, white_matter, spacing)
        before, after = contrast.original_ratio, contrast.ratio
        kept.setdefault(row["modality"], []).append((after - 1.0) / (before - 1.0))
        print(f"| {row['subject_id']} | {row['modality']} | {before:.3f} | {after:.3f} |")
    print()
    for modality, fractions in kept.items():
        print(f"{modality}: the reconstruction keeps {np.min(fractions):.0%} to {np.max(fractions):.0%} of the painted "
              f"contrast (median {np.median(fractions):.0%}).")


if __name__ == "__main__":
    main()
