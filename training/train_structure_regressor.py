"""Train the structure-volume regressor that steers sampling towards prompted ventricle volumes.

Examples::

    python -m training.train_structure_regressor --config small --autoencoder runs/default/autoencoder \\
        --out runs/default/structure_regressor
    python -m training.train_structure_regressor ... --resume          # continue after a stop or crash
    python -m training.train_structure_regressor ... --export-only --diffusion runs/default/diffusion \\
        --inpainting runs/default/inpainting --export-bundle runs/default/bundle

The autoencoder run must be finished (its latent cache is the training data). A few minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import logging
import sys

from training.trainers.cli import add_common_arguments, add_export_arguments, train_then_export
from training.trainers.export import export_bundle
from training.trainers.structure_regressor import StructureRegressorTrainer

logger = logging.getLogger("training.train_structure_regressor")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train_structure_regressor", description=__doc__.split("\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--autoencoder", required=True, help="finished autoencoder run folder")
    parser.add_argument("--diffusion", default=None, help="finished diffusion run folder (needed for --export-bundle)")
    parser.add_argument("--inpainting", default=None, help="finished inpainting run folder to include in the bundle")
    parser.add_argument("--decoder", default=None,
                        help="finished block-PCA autoencoder run whose decoder the bundle ships (same encoder as "
                             "--autoencoder; a decoder trained after the U-Net)")
    add_export_arguments(parser, "with structure guidance")
    args = parser.parse_args(argv)
    if args.export_bundle and not args.diffusion:
        parser.error("--export-bundle needs --diffusion (the bundle's U-Net)")
    return train_then_export(
        parser, args, "structure_regressor",
        lambda config, env: StructureRegressorTrainer(config, args.autoencoder, args.out, env, resume=args.resume),
        lambda a, config: export_bundle(a.autoencoder, a.diffusion, a.export_bundle, version=a.bundle_version,
                                        overwrite=a.overwrite_bundle, weights_dtype=a.weights_dtype,
                                        inpainting_dir=a.inpainting, structure_regressor_dir=a.out,
                                        structure_guidance_scale=config.structure_regressor.guidance_scale,
                                        inpaint_defaults=config.inpainting.bundle_defaults(),
                                        decoder_dir=a.decoder),
        logger,
    )


if __name__ == "__main__":
    sys.exit(main())
