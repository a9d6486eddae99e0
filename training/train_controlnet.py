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

from braingen3d.errors import BrainGenError
from training.trainers.checkpoint import CheckpointError
from training.trainers.cli import add_common_arguments, configure
from training.trainers.configs import TrainingConfigError
from training.trainers.controlnet import ControlNetTrainer
from training.trainers.data import DataError
from training.trainers.distributed import cleanup_distributed
from training.trainers.export import export_bundle
from training.trainers.loop import RunFolderBusyError

logger = logging.getLogger("training.train_controlnet")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train_controlnet", description=__doc__.split("\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--autoencoder", required=True, help="finished autoencoder run folder")
    parser.add_argument("--diffusion", required=True, help="finished diffusion run folder (its EMA U-Net is frozen and steered)")
    parser.add_argument("--inpainting", default=None, metavar="RUN", help="finished inpainting run to ship in the same bundle")
    parser.add_argument("--export-bundle", default=None, metavar="DIR",
                        help="write a bundle folder with the ControlNet here when training has finished")
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
            trainer = ControlNetTrainer(config, args.autoencoder, args.diffusion, args.out, env, resume=args.resume)
            try:
                step = trainer.fit(args.until_step)
            finally:
                trainer.close()
            if trainer.stopped_early:
                return trainer.stop.exit_code or 143
            finished = step >= config.controlnet.max_steps
        else:
            finished = True
        if args.export_bundle and finished and env.is_main:
            export_bundle(args.autoencoder, args.diffusion, args.export_bundle, version=args.bundle_version,
                          overwrite=args.overwrite_bundle, weights_dtype=args.weights_dtype, inpainting_dir=args.inpainting, controlnet_dir=args.out)
    except (TrainingConfigError, DataError, RunFolderBusyError, CheckpointError, FileExistsError, FileNotFoundError, BrainGenError) as exc:
        logger.error("%s", exc)
        return 2
    finally:
        cleanup_distributed()
    return 0


if __name__ == "__main__":
    sys.exit(main())
