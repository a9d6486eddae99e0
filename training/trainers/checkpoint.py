"""Checkpoints with exact resume, written atomically and loadable with ``torch.load(weights_only=True)``.

A checkpoint holds plain tensors, numbers, strings, lists and dicts only: network and EMA weights,
optimiser, LR-scheduler and GradScaler states, the step, and, for every rank, its RNG states
(python, numpy, torch, CUDA and the trainer's own generators) and its data-sampler position.
RNG states that are not tensors are stored as JSON strings.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from braingen3d.io.atomic import atomic_output

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "braingen3d-training-checkpoint"
CHECKPOINT_VERSION = 1
LAST_NAME = "checkpoint_last.pt"
_NUMBERED = re.compile(r"checkpoint_step(\d+)\.pt$")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt or belongs to a different run."""


def capture_global_rng() -> dict[str, Any]:
    """The python, numpy, torch (and CUDA) global RNG states."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": json.dumps(random.getstate()),
        "numpy": json.dumps([np_state[0], np_state[1].tolist(), *[x for x in np_state[2:]]]),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_global_rng(state: dict[str, Any]) -> None:
    """Undo ``capture_global_rng``."""
    version, internal, gauss = json.loads(state["python"])
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = json.loads(state["numpy"])
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def numpy_generator_state(generator: np.random.Generator) -> str:
    return json.dumps(generator.bit_generator.state)


def set_numpy_generator_state(generator: np.random.Generator, state: str) -> None:
    generator.bit_generator.state = json.loads(state)


def save_checkpoint(folder: str | os.PathLike, state: dict[str, Any], step: int, keep: int = 1) -> Path:
    """Write ``state`` atomically as ``checkpoint_last.pt`` (plus a numbered hard link, keeping ``keep``).

    Args:
        folder: the run's checkpoint folder.
        state: the checkpoint content (see module docstring).
        step: the optimiser step the state belongs to.
        keep: numbered checkpoints to keep (0 keeps only ``checkpoint_last.pt``).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "step": int(step), **state}
    target = folder / LAST_NAME
    with atomic_output(target, overwrite=True) as handle:
        torch.save(payload, handle)
    if keep > 0:
        numbered = folder / f"checkpoint_step{step:07d}.pt"
        numbered.unlink(missing_ok=True)
        os.link(target, numbered)
        old = sorted((p for p in folder.iterdir() if _NUMBERED.match(p.name)), key=lambda p: p.name)
        for stale in old[:-keep]:
            stale.unlink(missing_ok=True)
    logger.info("Saved checkpoint at step %d to %s", step, target)
    return target


def find_checkpoint(folder: str | os.PathLike) -> Path | None:
    """The latest checkpoint in ``folder``, or None."""
    path = Path(folder) / LAST_NAME
    return path if path.is_file() else None


def load_checkpoint(path: str | os.PathLike, kind: str) -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``) and check it belongs to a ``kind`` trainer."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}. Start without --resume, or point --out at the run folder.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated or foreign files
        raise CheckpointError(
            f"{path} cannot be read safely ({exc}). If the run was killed while writing, the previous "
            f"checkpoint_step*.pt next to it is intact: copy it to {LAST_NAME}."
        ) from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a BrainGen3D training checkpoint.")
    if state.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path} has checkpoint version {state.get('version')}; this trainer reads {CHECKPOINT_VERSION}.")
    if state.get("kind") != kind:
        raise CheckpointError(f"{path} is a {state.get('kind')!r} checkpoint, not a {kind!r} one. Check --out.")
    return state
