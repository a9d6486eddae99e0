"""Train a ControlNet that steers a BrainGen3D bundle's U-Net with a tissue label map, and export the bundle.

Examples::

    python -m training.train_controlnet --config small --autoencoder runs/default/autoencoder \\
        --diffusion runs/default/diffusion --out runs/default/controlnet --export-bundle runs/controlnet-bundle
    python -m training.train_controlnet ... --resume                 # continue after a stop or crash
    torchrun --nproc_per_node 4 -m training.train_controlnet ...      # multi-GPU / multi-node (DDP)

Every training row needs a ``tissue_map`` (labels 0..max_label on the bundle grid). The exported
bundle declares ``capabilities.controlnet``; ``--inpainting RUN`` also ships a finished inpainting U-Net.
"""

from __future__ import annotations

import argparse
import logging
import sys

from training.trainers.cli import add_common_arguments, add_export_arguments, train_then_export
from training.trainers.controlnet import ControlNetTrainer
from training.trainers.export import export_bundle

logger = logging.getLogger("training.train_controlnet")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train_controlnet", description=__doc__.split("\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--autoencoder", required=True, help="finished autoencoder run folder")
    parser.add_argument("--diffusion", required=True, help="finished diffusion run folder (its EMA U-Net is frozen and steered)")
    parser.add_argument("--inpainting", default=None, metavar="RUN", help="finished inpainting run to ship in the same bundle")
    add_export_arguments(parser, "with the ControlNet")
    args = parser.parse_args(argv)
    return train_then_export(
        parser, args, "controlnet",
        lambda config, env: ControlNetTrainer(config, args.autoencoder, args.diffusion, args.out, env, resume=args.resume),
        lambda a, config: export_bundle(a.autoencoder, a.diffusion, a.export_bundle, version=a.bundle_version,
                                        overwrite=a.overwrite_bundle, weights_dtype=a.weights_dtype,
                                        inpainting_dir=a.inpainting, controlnet_dir=a.out),
        logger,
    )


if __name__ == "__main__":
    sys.exit(main())
