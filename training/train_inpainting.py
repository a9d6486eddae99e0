"""Fine-tune the inpainting U-Net of a BrainGen3D bundle from a finished diffusion run, and export the bundle.

Examples::

    python -m training.train_inpainting --config small --autoencoder runs/default/autoencoder \\
        --diffusion runs/default/diffusion --out runs/default/inpainting --export-bundle runs/default/bundle
    python -m training.train_inpainting ... --resume                 # continue after a stop or crash
    torchrun --nproc_per_node 4 -m training.train_inpainting ...     # multi-GPU / multi-node (DDP)

The exported bundle holds both U-Nets and declares ``capabilities.inpaint = ["inpaint_unet", "repaint"]``.
"""

from __future__ import annotations

import argparse
import logging
import sys

from training.trainers.cli import add_common_arguments, add_export_arguments, train_then_export
from training.trainers.export import export_bundle
from training.trainers.inpainting import InpaintingTrainer

logger = logging.getLogger("training.train_inpainting")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train_inpainting", description=__doc__.split("\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--autoencoder", required=True, help="finished autoencoder run folder")
    parser.add_argument("--diffusion", required=True, help="finished diffusion run folder (its EMA U-Net is the start)")
    add_export_arguments(parser, "with both U-Nets")
    args = parser.parse_args(argv)
    return train_then_export(
        parser, args, "inpainting",
        lambda config, env: InpaintingTrainer(config, args.autoencoder, args.diffusion, args.out, env, resume=args.resume),
        lambda a, config: export_bundle(a.autoencoder, a.diffusion, a.export_bundle, version=a.bundle_version,
                                        overwrite=a.overwrite_bundle, weights_dtype=a.weights_dtype,
                                        inpainting_dir=a.out, inpaint_defaults=config.inpainting.bundle_defaults()),
        logger,
    )


if __name__ == "__main__":
    sys.exit(main())
