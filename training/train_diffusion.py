"""Train the text-conditioned latent diffusion U-Net of a BrainGen3D bundle, and export the bundle.

Examples::

    python -m training.train_diffusion --config small --autoencoder runs/default/autoencoder \\
        --out runs/default/diffusion --export-bundle runs/default/bundle
    python -m training.train_diffusion ... --resume                  # continue after a stop or crash
    python -m training.train_diffusion ... --export-only --export-bundle DIR
    torchrun --nproc_per_node 4 -m training.train_diffusion ...      # multi-GPU / multi-node (DDP)

The autoencoder run must be finished: its ``latents/`` cache and ``final/`` weights are used.
"""

from __future__ import annotations

import argparse
import logging
import sys

from braingen3d.errors import BrainGenError
from training.trainers.checkpoint import CheckpointError
from training.trainers.cli import add_common_arguments, configure
from training.trainers.configs import TrainingConfigError
from training.trainers.data import DataError
from training.trainers.diffusion import DiffusionTrainer
from training.trainers.distributed import cleanup_distributed
from training.trainers.loop import RunFolderBusyError
from training.trainers.export import export_bundle

logger = logging.getLogger("training.train_diffusion")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train_diffusion", description=__doc__.split("\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--autoencoder", required=True, help="finished autoencoder run folder (train_autoencoder --out)")
    parser.add_argument("--export-bundle", default=None, metavar="DIR",
                        help="write a bundle folder here when training has finished")
    parser.add_argument("--export-only", action="store_true", help="only export the bundle of a finished run")
    parser.add_argument("--bundle-version", default="0.1.0", help="version string of the exported bundle")
    parser.add_argument("--overwrite-bundle", action="store_true", help="replace an existing bundle folder")
    parser.add_argument("--weights-dtype", default="float32", choices=["float32", "float16"],
                        help="storage dtype of the exported weights (float16 halves the bundle; loads as float32)")
    args = parser.parse_args(argv)
    if args.export_only and not args.export_bundle:
        parser.error("--export-only needs --export-bundle DIR")
    try:
        config, env = configure(args)
        if not args.export_only:
            trainer = DiffusionTrainer(config, args.autoencoder, args.out, env, resume=args.resume)
            try:
                step = trainer.fit(args.until_step)
            finally:
                trainer.close()
            if trainer.stopped_early:
                return trainer.stop.exit_code or 143  # stopped early (signal on this or another rank): nothing to export
            finished = step >= config.diffusion.max_steps
        else:
            finished = True
        if args.export_bundle and finished and env.is_main:
            export_bundle(args.autoencoder, args.out, args.export_bundle, version=args.bundle_version,
                          overwrite=args.overwrite_bundle, weights_dtype=args.weights_dtype)
    except (TrainingConfigError, DataError, RunFolderBusyError, CheckpointError, FileExistsError, FileNotFoundError, BrainGenError) as exc:
        logger.error("%s", exc)
        return 2
    finally:
        cleanup_distributed()
    return 0


if __name__ == "__main__":
    sys.exit(main())
