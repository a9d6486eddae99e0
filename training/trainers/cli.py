"""Command-line plumbing shared by ``training.train_autoencoder`` and ``training.train_diffusion``."""

from __future__ import annotations

import argparse
import logging
import os

import torch

from .configs import TrainingConfig, load_config
from .distributed import DistEnv, setup_distributed


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="small",
                        help="training config: tiny, small (default), base, large, or a JSON file path")
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
