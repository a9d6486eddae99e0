"""Exact resume: K steps + stop + resume for K more gives the same bits as 2K uninterrupted steps (CPU, tiny)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch

from training.trainers.autoencoder import AutoencoderTrainer
from training.trainers.checkpoint import CheckpointError, load_checkpoint
from training.trainers.configs import load_config
from training.trainers.diffusion import DiffusionTrainer
from training.trainers.distributed import DistEnv
from training.trainers.loop import RunFolderBusyError


def _assert_same_state(a: dict, b: dict, where: str = "") -> None:
    assert type(a) is type(b), where
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _assert_same_state(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for index, (x, y) in enumerate(zip(a, b)):
            _assert_same_state(x, y, f"{where}[{index}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), f"{where} differs"
    else:
        assert a == b, where


def _compare_checkpoints(first: Path, second: Path, kind: str) -> None:
    a = load_checkpoint(first / "checkpoints" / "checkpoint_last.pt", kind)
    b = load_checkpoint(second / "checkpoints" / "checkpoint_last.pt", kind)
    assert a["step"] == b["step"]
    for section in ("modules", "emas", "optimizers", "schedulers", "ranks"):
        _assert_same_state(a[section], b[section], section)


def test_autoencoder_resume_is_bit_identical(tmp_path: Path, tt_manifest: Path, tt_autoencoder_run: Path) -> None:
    # tt_autoencoder_run is the uninterrupted 4-step run; the discriminator trains from step 1 and
    # previews/evaluations run at step 2, so the stop falls between all of them.
    config = load_config("tiny")
    resumed = tmp_path / "resumed"
    first = AutoencoderTrainer(config, tt_manifest, resumed, DistEnv())
    assert first.fit(until_step=2) == 2
    first.close()
    second = AutoencoderTrainer(config, tt_manifest, resumed, DistEnv(), resume=True)
    assert second.step == 2
    assert second.fit() == 4
    second.close()
    _compare_checkpoints(tt_autoencoder_run, resumed, "autoencoder")
    baseline = tt_autoencoder_run / "checkpoints" / "checkpoint_last.pt"
    weights = load_checkpoint(baseline, "autoencoder")["modules"]["autoencoder"]
    untrained = AutoencoderTrainer(config, tt_manifest, tmp_path / "fresh", DistEnv())
    fresh = untrained.autoencoder.state_dict()
    untrained.close()
    assert any(not torch.equal(weights[k], fresh[k]) for k in weights), "training did not change the weights"


@pytest.mark.slow
def test_diffusion_resume_is_bit_identical(tmp_path: Path, tt_autoencoder_run: Path, tt_diffusion_run: Path) -> None:
    config = load_config("tiny")
    resumed = tmp_path / "resumed"
    first = DiffusionTrainer(config, tt_autoencoder_run, resumed, DistEnv())
    first.fit(until_step=2)
    first.close()
    second = DiffusionTrainer(config, tt_autoencoder_run, resumed, DistEnv(), resume=True)
    second.fit()
    second.close()
    _compare_checkpoints(tt_diffusion_run, resumed, "diffusion")


def test_sigterm_saves_a_checkpoint_and_stops(tmp_path: Path, tt_manifest: Path) -> None:
    config = load_config("tiny", ["autoencoder.max_steps=6", "autoencoder.checkpoint_every=100",
                                  "autoencoder.preview_every=0"])
    trainer = AutoencoderTrainer(config, tt_manifest, tmp_path / "run", DistEnv())
    step_once = trainer.train_step

    def step_then_signal():
        logs = step_once()
        if trainer.step == 1:  # the loop increments after this returns: the signal arrives during step 2
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGTERM)  # delivered twice (process group + parent script): still one stop
        return logs

    trainer.train_step = step_then_signal
    previous = signal.getsignal(signal.SIGTERM)
    assert trainer.fit() == 2
    trainer.close()
    assert signal.getsignal(signal.SIGTERM) == previous
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "checkpoint_last.pt", "autoencoder")
    assert state["step"] == 2
    assert not (tmp_path / "run" / "final").exists()


def test_checkpoint_safety_and_misuse(tmp_path: Path, tt_manifest: Path, tt_autoencoder_run: Path) -> None:
    path = tt_autoencoder_run / "checkpoints" / "checkpoint_last.pt"
    torch.load(path, weights_only=True)  # plain tensors and containers only
    with pytest.raises(CheckpointError, match="not a 'diffusion'"):
        load_checkpoint(path, "diffusion")
    garbage = tmp_path / "checkpoint_last.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot be read safely"):
        load_checkpoint(garbage, "autoencoder")
    with pytest.raises(FileExistsError, match="--resume"):
        AutoencoderTrainer(load_config("tiny"), tt_manifest, tt_autoencoder_run, DistEnv())


def test_run_folder_lock(tmp_path: Path, tt_manifest: Path) -> None:
    config = load_config("tiny")
    holder = AutoencoderTrainer(config, tt_manifest, tmp_path / "run", DistEnv())
    with pytest.raises(RunFolderBusyError, match=str(os.getpid())):
        AutoencoderTrainer(config, tt_manifest, tmp_path / "run", DistEnv(), resume=True)
    holder.close()
    AutoencoderTrainer(config, tt_manifest, tmp_path / "run", DistEnv(), resume=True).close()


def test_gradient_accumulation_matches_the_larger_batch(tmp_path: Path, tt_manifest: Path) -> None:
    """Two accumulated micro-batches of 1 give the gradients of one batch of 2 (same patches, same noise)."""
    common = ["autoencoder.max_steps=2", "autoencoder.preview_every=0", "autoencoder.adv_start_step=0"]
    gradients = []
    for name, overrides in (("batch", ["autoencoder.batch_size=2"]),
                            ("accumulated", ["autoencoder.batch_size=1", "autoencoder.grad_accum=2"])):
        trainer = AutoencoderTrainer(load_config("tiny", common + overrides), tt_manifest, tmp_path / name, DistEnv())
        captured = {}
        optimizer_step = trainer.optimizer_step

        def capture(module_name, module, _step=optimizer_step, _captured=captured):
            _captured.update({f"{module_name}.{k}": p.grad.clone() for k, p in module.named_parameters()})
            _step(module_name, module)

        trainer.optimizer_step = capture
        trainer.fit(until_step=1)
        trainer.close()
        gradients.append(captured)
    assert gradients[0].keys() == gradients[1].keys() and any(k.startswith("discriminator.") for k in gradients[0])
    for key in gradients[0]:
        assert torch.allclose(gradients[0][key], gradients[1][key], atol=1e-7, rtol=1e-4), key


def test_resume_with_a_longer_schedule_extends_the_run(tmp_path: Path, tt_manifest: Path) -> None:
    first = AutoencoderTrainer(load_config("tiny", ["autoencoder.preview_every=0"]), tt_manifest, tmp_path / "run", DistEnv())
    first.fit()  # 4 steps: the cosine has reached its floor
    first.close()
    floor = first.optimizers["autoencoder"].param_groups[0]["lr"]
    config = load_config("tiny", ["autoencoder.preview_every=0", "autoencoder.max_steps=8", "autoencoder.lr=2e-3"])
    longer = AutoencoderTrainer(config, tt_manifest, tmp_path / "run", DistEnv(), resume=True)
    lr = longer.optimizers["autoencoder"].param_groups[0]["lr"]
    assert lr == pytest.approx(2e-3 * longer.schedulers["autoencoder"].lr_lambdas[0](4)) and lr > floor
    assert longer.fit() == 8
    longer.close()
