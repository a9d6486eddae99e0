"""Train the KL autoencoder of a BrainGen3D bundle.

Examples::

    python -m training.train_autoencoder --config small --manifest cache/cohort/manifest.csv --out runs/default/autoencoder
    python -m training.train_autoencoder ... --resume                 # continue after a stop or crash
    torchrun --nproc_per_node 4 -m training.train_autoencoder ...     # multi-GPU / multi-node (DDP)

When ``max_steps`` is reached the run evaluates the EMA weights on held-out subjects, encodes the
cohort into ``<out>/latents`` and writes ``<out>/final/autoencoder.{safetensors,json}``.
"""

from __future__ import annotations

import argparse
import logging
import sys

from training.trainers.autoencoder import AutoencoderTrainer
from training.trainers.cli import add_common_arguments, configure, training_errors
from training.trainers.configs import TrainingConfigError
from training.trainers.distributed import cleanup_distributed

logger = logging.getLogger("training.train_autoencoder")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.train_autoencoder", description=__doc__.split("\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--manifest", required=True, help="cohort manifest CSV (images on the config's grid)")
    parser.add_argument("--encode-only", action="store_true",
                        help="redo the final outputs (evaluation, latent cache, scale_factor) of a finished run")
    args = parser.parse_args(argv)
    try:
        config, env = configure(args)
        trainer = AutoencoderTrainer(config, args.manifest, args.out, env, resume=args.resume or args.encode_only)
        try:
            if args.encode_only:
                if trainer.step < config.autoencoder.max_steps:
                    raise TrainingConfigError(
                        f"--encode-only needs a finished run; {args.out} is at step {trainer.step} of "
                        f"{config.autoencoder.max_steps}. Continue it with --resume."
                    )
                trainer.finish()
            else:
                trainer.fit(args.until_step)
        finally:
            trainer.close()
        if trainer.stopped_early:
            return trainer.stop.exit_code or 143  # stopped early (signal on this or another rank): do not go on
    except training_errors() as exc:
        logger.error("%s", exc)
        return 2
    finally:
        cleanup_distributed()
    return 0


if __name__ == "__main__":
    sys.exit(main())
