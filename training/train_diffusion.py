"""Train the text-conditioned latent diffusion U-Net of a BrainGen3D bundle, and export the bundle.

Examples::

    python -m training.train_diffusion --config small --autoencoder runs/default/autoencoder \\
        --out runs/default/diffusion --export-bundle runs/default/bundle
    python -m training.train_diffusion ... --resume                  # continue after a stop or crash
    python -m training.train_diffusion ... --export-only --export-bundle DIR
    python -m training.train_diffusion ... --init-from runs/old/diffusion --out runs/tuned/diffusion  # fine-tune
    torchrun --nproc_per_node 4 -m training.train_diffusion ...      # multi-GPU / multi-node (DDP)

The autoencoder run must be finished: its ``latents/`` cache and ``final/`` weights are used.
"""

from __future__ import annotations

import argparse
import logging
import sys

from training.trainers.cli import add_common_arguments, add_export_arguments, train_then_export
from training.trainers.diffusion import DiffusionTrainer
from training.trainers.export import export_bundle

logger = logging.getLogger("training.train_diffusion")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train_diffusion", description=__doc__.split("\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--autoencoder", required=True, help="finished autoencoder run folder (train_autoencoder --out)")
    parser.add_argument("--init-from", default=None, metavar="RUN",
                        help="finished diffusion run whose EMA U-Net starts this one (fine-tuning, e.g. to add an "
                             "anatomical prior); with --resume, a checkpoint's weights replace these")
    add_export_arguments(parser, "(text-only)")
    args = parser.parse_args(argv)
    return train_then_export(
        parser, args, "diffusion",
        lambda config, env: DiffusionTrainer(config, args.autoencoder, args.out, env, resume=args.resume,
                                             init_from=args.init_from),
        lambda a, config: export_bundle(a.autoencoder, a.out, a.export_bundle, version=a.bundle_version,
                                        overwrite=a.overwrite_bundle, weights_dtype=a.weights_dtype),
        logger,
    )


if __name__ == "__main__":
    sys.exit(main())
