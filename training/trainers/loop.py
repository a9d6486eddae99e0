"""The training loop both trainers share: steps, logging, checkpoints with exact resume, previews, stopping."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from braingen3d.bundle.weights import rename_legacy_keys

from .checkpoint import (
    CheckpointError,
    capture_global_rng,
    find_checkpoint,
    load_checkpoint,
    numpy_generator_state,
    restore_global_rng,
    save_checkpoint,
    set_numpy_generator_state,
)
from .configs import LoopConfig, TrainingConfig
from .distributed import DistEnv, all_gather_objects, any_rank, mean_over_ranks
from .ema import EMA
from .monitor import Monitor
from .precision import autocast_dtype
from .sampler import ShardedSampler
from .schedule import WarmupCosine
from .stopping import StopFlag

logger = logging.getLogger(__name__)


class RunFolderBusyError(RuntimeError):
    """Another process is training in the same run folder."""


class Trainer:
    """Base class: subclasses build their networks and implement ``train_step``, ``preview`` and ``finish``.

    Subclasses fill ``modules`` (raw networks, not DDP wrappers), ``emas``, ``optimizers``,
    ``schedulers`` and ``scalers`` by name, create ``sampler``, then call ``_start()``.

    Args:
        config: the full training config.
        section: this trainer's hyper-parameters (``config.autoencoder`` or ``config.diffusion``).
        out_dir: the run folder (checkpoints, TensorBoard, previews, final weights).
        env: the process's place in the distributed job.
        resume: continue from ``out_dir/checkpoints/checkpoint_last.pt`` if it exists.
    """

    kind = "base"

    def __init__(self, config: TrainingConfig, section: LoopConfig, out_dir: str | Path, env: DistEnv,
                 resume: bool = False) -> None:
        self.config = config
        self.section = section
        self.out_dir = Path(out_dir)
        self.env = env
        self.resume = resume
        self.device = env.device
        self.step = 0
        self.elapsed_before = 0.0
        self.last_logs: dict[str, float] = {}
        self.resumed_meta: dict[str, Any] = {}
        self.modules: dict[str, torch.nn.Module] = {}
        self.emas: dict[str, EMA] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, Any] = {}
        self.scalers: dict[str, torch.amp.GradScaler] = {}
        self.sampler: ShardedSampler | None = None
        # Per-rank generators for data sampling and noise; their states are checkpointed.
        self.rng = np.random.default_rng([section.seed, 1, env.rank])
        self.generator = torch.Generator("cpu").manual_seed(section.seed * 1000 + 7 + env.rank)
        self.monitor: Monitor | None = None
        self.stop = StopFlag()
        self.stopped_early = False  # a signal reached any rank: all ranks stopped before their target

    # --- subclass hooks -----------------------------------------------------------------------
    def train_step(self) -> dict[str, float]:
        """One optimiser step (with gradient accumulation); returns scalars to log."""
        raise NotImplementedError

    def optimizer_step(self, name: str, module: torch.nn.Module) -> None:
        """Clip (``section.grad_clip`` > 0), step and zero ``optimizers[name]``, through ``scalers[name]`` when the
        network has a loss scaler, then advance ``schedulers[name]`` if it has one."""
        optimizer, scaler = self.optimizers[name], self.scalers.get(name)
        if self.section.grad_clip > 0:
            if scaler is not None:
                scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(module.parameters(), self.section.grad_clip)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if name in self.schedulers:
            self.schedulers[name].step()

    def preview(self) -> None:
        """Write a preview PNG from a fixed seed (main process)."""

    def periodic(self) -> None:
        """Main-process work after every step (default: the preview every ``preview_every`` steps)."""
        if self.section.preview_every and self.step % self.section.preview_every == 0:
            self.preview()

    def finish(self) -> None:
        """Called once training reached ``max_steps`` (all ranks; write outputs on the main process)."""

    def run_metadata(self) -> dict[str, Any]:
        """Extra fields stored in the checkpoint's metadata."""
        return {}

    # --- checkpointing --------------------------------------------------------------------------
    @property
    def checkpoint_dir(self) -> Path:
        return self.out_dir / "checkpoints"

    def _rank_state(self) -> dict[str, Any]:
        return {
            "global_rng": capture_global_rng(),
            "numpy_generator": numpy_generator_state(self.rng),
            "torch_generator": self.generator.get_state(),
            "sampler": self.sampler.state_dict() if self.sampler is not None else {},
        }

    def _load_rank_state(self, state: dict[str, Any]) -> None:
        restore_global_rng(state["global_rng"])
        set_numpy_generator_state(self.rng, state["numpy_generator"])
        self.generator.set_state(state["torch_generator"])
        if self.sampler is not None and state.get("sampler"):
            self.sampler.load_state_dict(state["sampler"])

    def elapsed_seconds(self) -> float:
        return self.elapsed_before + (time.perf_counter() - self._session_start)

    def save(self) -> None:
        """Checkpoint everything needed to continue bit-exactly (collective: call on every rank)."""
        rank_states = all_gather_objects(self.env, self._rank_state())
        if not self.env.is_main:
            return
        meta = {"config": self.config.to_dict(), "elapsed_seconds": self.elapsed_seconds(),
                "world_size": self.env.world_size, "last_logs": self.last_logs, **self.run_metadata()}
        state = {
            "kind": self.kind,
            "modules": {k: m.state_dict() for k, m in self.modules.items()},
            "emas": {k: e.state_dict() for k, e in self.emas.items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "scalers": {k: s.state_dict() for k, s in self.scalers.items()},
            "ranks": rank_states,
            "meta": json.dumps(meta),
        }
        save_checkpoint(self.checkpoint_dir, state, self.step, keep=self.section.keep_checkpoints)

    def _maybe_resume(self) -> None:
        path = find_checkpoint(self.checkpoint_dir)
        if not self.resume or path is None:
            if self.resume:
                logger.info("No checkpoint in %s; starting from step 0.", self.checkpoint_dir)
            elif path is not None:
                raise FileExistsError(
                    f"{self.out_dir} already holds a checkpoint. Pass --resume to continue it, or choose a new --out."
                )
            return
        state = load_checkpoint(path, self.kind)
        meta = json.loads(state["meta"])
        previous = meta.get("config", {})
        for field in ("preset", "grid", "architecture"):
            if previous.get(field) != getattr(self.config, field):
                raise CheckpointError(
                    f"{path} was trained with config field '{field}' = {previous.get(field)!r}, but this run has "
                    f"{getattr(self.config, field)!r}. Use the same config to resume, or choose a new --out."
                )
        for key, module in self.modules.items():
            module.load_state_dict(rename_legacy_keys(state["modules"][key]))
        for key, ema in self.emas.items():
            ema.load_state_dict({**state["emas"][key], "weights": rename_legacy_keys(state["emas"][key]["weights"])})
        for key, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][key])
        for key, scheduler in self.schedulers.items():
            scheduler.load_state_dict(state["schedulers"][key])
            self._apply_schedule_config(scheduler)
        for key, scaler in self.scalers.items():
            if state["scalers"].get(key):
                scaler.load_state_dict(state["scalers"][key])
        self.step = int(state["step"])
        self.resumed_meta = meta
        self.elapsed_before = float(meta.get("elapsed_seconds", 0.0))
        self.last_logs = meta.get("last_logs", {})
        ranks = state["ranks"]
        if len(ranks) == self.env.world_size:
            self._load_rank_state(ranks[self.env.rank])
        else:
            logger.warning(
                "Checkpoint was written by %d process(es), this run has %d: weights and optimiser resume exactly, "
                "but data order and noise are re-seeded.", len(ranks), self.env.world_size,
            )
            self.sampler.epoch += 1  # a fresh permutation rather than a replay of epoch 0
        logger.info("Resumed %s training from %s at step %d.", self.kind, path, self.step)

    def _apply_schedule_config(self, scheduler: Any) -> None:
        """The config, not the checkpoint, decides the LR schedule (peak ``lr``, warm-up, ``max_steps``, floor).

        Unchanged settings resume exactly; a changed one (e.g. a larger ``max_steps`` to extend a run)
        takes effect from the resumed step on.
        """
        for index, schedule in enumerate(getattr(scheduler, "lr_lambdas", [])):
            if not isinstance(schedule, WarmupCosine):
                continue
            new = (int(self.section.warmup_steps), int(self.section.max_steps), float(self.section.min_lr_ratio),
                   float(self.section.lr))
            old = (schedule.warmup_steps, schedule.total_steps, schedule.min_ratio, float(scheduler.base_lrs[index]))
            if new == old:
                continue
            logger.warning("LR schedule changed on resume (warm-up, max_steps, floor ratio, peak lr): %s -> %s.", old, new)
            schedule.warmup_steps, schedule.total_steps, schedule.min_ratio = new[:3]
            scheduler.base_lrs[index] = new[3]
            group = scheduler.optimizer.param_groups[index]
            group["initial_lr"] = new[3]
            group["lr"] = new[3] * schedule(scheduler.last_epoch)
            scheduler._last_lr = [g["lr"] for g in scheduler.optimizer.param_groups]

    def _sync_emas(self) -> None:
        """After DDP has broadcast rank 0's initial weights, start every EMA from them (fresh runs only)."""
        if self.step == 0:
            for key, ema in self.emas.items():
                ema.shadow.load_state_dict(self.modules[key].state_dict())

    # --- the loop -----------------------------------------------------------------------------------
    def _lock_run_folder(self) -> None:
        """Refuse to run two trainers on one run folder (an exclusive lock held while the process lives)."""
        if not self.env.is_main:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; the user must not start two runs on one folder
            return
        path = self.out_dir / ".lock"
        self._lock_handle = open(path, "a+")
        try:
            fcntl.flock(self._lock_handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_handle.seek(0)
            owner = self._lock_handle.read().strip() or "unknown"
            self._lock_handle.close()
            raise RunFolderBusyError(
                f"{self.out_dir} is in use by another training process (pid {owner}). Wait for it to finish or stop it "
                "(it saves a checkpoint on SIGTERM), then --resume."
            ) from None
        self._lock_handle.seek(0)
        self._lock_handle.truncate()
        self._lock_handle.write(str(os.getpid()))
        self._lock_handle.flush()

    def _start(self) -> None:
        """Lock the run folder, resume if asked, create the monitor (call at the end of the subclass constructor)."""
        self._session_start = time.perf_counter()
        self._lock_run_folder()
        try:
            self._maybe_resume()
        except BaseException:
            self._release_lock()
            raise
        self.monitor = Monitor(self.out_dir, self.env.is_main, self.step)
        if self.env.is_main:
            dtype = autocast_dtype(self.device, getattr(self.section, "cpu_bf16", False))
            logger.info("%s: device %s, autocast %s.", self.kind, self.device, dtype or "off (fp32)")

    def fit(self, until_step: int | None = None) -> int:
        """Train up to ``until_step`` (default ``max_steps``); returns the step reached.

        Stops early, with a checkpoint, on SIGTERM/SIGINT. Calls ``finish`` when ``max_steps`` is reached.
        """
        section = self.section
        target = min(section.max_steps, until_step if until_step is not None else section.max_steps)
        self.stop.install()
        try:
            if self.step < target:
                logger.info("Training %s from step %d to %d on %s (%d process(es)).", self.kind, self.step, target,
                            self.device, self.env.world_size)
            window: list[float] = []
            while self.step < target:
                started = time.perf_counter()
                logs = self.train_step()
                self.step += 1
                window.append(time.perf_counter() - started)
                stop = any_rank(self.env, self.stop.requested)
                if self.step % section.log_every == 0 or self.step == target or stop:
                    logs = mean_over_ranks(self.env, logs)
                    logs["lr"] = self._current_lr()
                    logs["step_seconds"] = float(np.mean(window))
                    self.last_logs = logs
                    self.monitor.scalars(self.step, logs)
                    window.clear()
                if self.step % section.checkpoint_every == 0 or self.step == target or stop:
                    self.save()
                if self.env.is_main:
                    # Previews and evaluations must not move the training RNG, or resume would not be exact.
                    with torch.random.fork_rng(devices=[]):
                        self.periodic()
                if stop:
                    self.stopped_early = True
                    logger.info("Stopped at step %d; continue with --resume.", self.step)
                    break
            if self.step >= section.max_steps and not self.stopped_early:
                self.finish()
        finally:
            self.stop.uninstall()
            self.monitor.flush()
        return self.step

    def _current_lr(self) -> float:
        first = next(iter(self.optimizers.values()))
        return float(first.param_groups[0]["lr"])

    def close(self) -> None:
        if self.monitor is not None:
            self.monitor.close()
        self._release_lock()

    def _release_lock(self) -> None:
        handle = getattr(self, "_lock_handle", None)
        if handle is not None and not handle.closed:
            handle.close()
