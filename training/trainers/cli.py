"""Command-line plumbing shared by the ``training.train_*`` commands."""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any, Callable

import torch

from .configs import TrainingConfig, load_config
from .distributed import DistEnv, setup_distributed


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="small",
                        help="training config: tiny, small (default), small_kl, base, large, or a JSON file path")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="override a config field, e.g. --set autoencoder.max_steps=2000 (repeatable)")
    parser.add_argument("--out", required=True, help="run folder (checkpoints, TensorBoard, previews, final outputs)")
    parser.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    parser.add_argument("--until-step", type=int, default=None,
                        help="stop (with a checkpoint) at this step instead of max_steps; resume later with --resume")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (under torchrun each rank uses its LOCAL_RANK GPU)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads per process (default: 2 divided among the local processes)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def configure(args: argparse.Namespace) -> tuple[TrainingConfig, DistEnv]:
    """Logging, threads, the config and the process group, from parsed arguments."""
    rank = int(os.environ.get("RANK", 0))
    logging.basicConfig(
        level=getattr(logging, args.log_level) if rank == 0 else logging.WARNING,
        format=f"%(asctime)s [rank {rank}] %(levelname)s %(name)s: %(message)s",
    )
    local = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    torch.set_num_threads(args.threads or max(1, 2 // local))
    config = load_config(args.config, args.overrides)
    env = setup_distributed(args.device)
    return config, env


def training_errors() -> tuple[type[BaseException], ...]:
    """Errors a training command line reports as one line and exit status 2 (no traceback)."""
    from .checkpoint import CheckpointError
    from .configs import TrainingConfigError
    from .data import DataError
    from .loop import RunFolderBusyError

    return TrainingConfigError, DataError, RunFolderBusyError, CheckpointError, FileExistsError, FileNotFoundError


def add_export_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """The bundle-export options of the diffusion, inpainting and ControlNet command lines."""
    parser.add_argument("--export-bundle", default=None, metavar="DIR",
                        help=f"write a bundle folder {what} here when training has finished")
    parser.add_argument("--export-only", action="store_true", help="only export the bundle of a finished run")
    parser.add_argument("--bundle-version", default="0.1.0", help="version string of the exported bundle")
    parser.add_argument("--overwrite-bundle", action="store_true", help="replace an existing bundle folder")
    parser.add_argument("--weights-dtype", default="float32", choices=["float32", "float16"],
                        help="storage dtype of the exported weights (float16 halves the bundle; loads as float32)")


def train_then_export(parser: argparse.ArgumentParser, args: argparse.Namespace, section: str,
                      make_trainer: Callable[[TrainingConfig, DistEnv], Any],
                      export: Callable[[argparse.Namespace, TrainingConfig], Any], logger: logging.Logger) -> int:
    """Train a latent-diffusion stage (unless ``--export-only``), then export the bundle if asked and finished.

    Args:
        parser: the command's parser (for ``--export-only`` without ``--export-bundle``).
        args: its parsed arguments (``add_common_arguments`` and ``add_export_arguments``).
        section: the config section whose ``max_steps`` marks the run finished.
        make_trainer: builds the stage's trainer from the config and the distributed environment.
        export: writes the bundle from the arguments and the loaded config (main process only).
        logger: the command's logger.

    Returns:
        The process exit status.
    """
    from braingen3d.core.errors import BrainGenError

    from .distributed import cleanup_distributed

    if args.export_only and not args.export_bundle:
        parser.error("--export-only needs --export-bundle DIR")
    try:
        config, env = configure(args)
        if not args.export_only:
            trainer = make_trainer(config, env)
            try:
                step = trainer.fit(args.until_step)
            finally:
                trainer.close()
            if trainer.stopped_early:
                return trainer.stop.exit_code or 143  # stopped early (signal on this or another rank): nothing to export
            finished = step >= getattr(config, section).max_steps
        else:
            finished = True
        if args.export_bundle and finished and env.is_main:
            export(args, config)
    except (*training_errors(), BrainGenError) as exc:
        logger.error("%s", exc)
        return 2
    finally:
        cleanup_distributed()
    return 0
