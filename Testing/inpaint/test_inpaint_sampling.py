"""The latent samplers: RePaint's schedule, noise levels per sampler, known-region handling, U-Net input order."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from braingen3d.bundle.presets import NOISE_SCHEDULER
from braingen3d.core.errors import InvalidInputError
from braingen3d.pipelines.inpaint import INPAINT_UNET_INPUT_ORDER, Resampling
from braingen3d.pipelines.inpaint.methods import LatentProblem, repaint, sample_with_inpaint_unet
from braingen3d.pipelines.inpaint.model_space import latent_mask
from braingen3d.prompts.text_encoder import PromptConditioning
from braingen3d.sampling.loop import NoiseLevels, SamplerRun
from braingen3d.sampling.schedulers import make_sampler

CPU = torch.device("cpu")
SAMPLERS = ["dpm++", "ddim", "euler", "ddpm"]


def test_resampling_path_walks_down_with_jumps_back():
    path = Resampling(rounds=2, jump_length=1, stop_fraction=0.8).path(5)
    assert path == [0, 1, 0, 1, 0, 1, 2, 1, 2, 1, 2, 3, 2, 3, 2, 3, 4, 3, 4, 3, 4, 5]
    assert Resampling.model_evaluations(path) == 5 + 2 * 4
    longer = Resampling(rounds=1, jump_length=2, stop_fraction=1.0).path(6)
    assert longer == [0, 1, 2, 0, 1, 2, 3, 4, 2, 3, 4, 5, 6]
    assert Resampling(rounds=0).path(4) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("bad", [Resampling(rounds=-1), Resampling(jump_length=0), Resampling(stop_fraction=1.5)])
def test_bad_resampling_settings_are_refused(bad):
    with pytest.raises(InvalidInputError):
        bad.validate()


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_noise_levels_follow_the_samplers_parametrisation(sampler):
    scheduler = make_sampler(sampler, NOISE_SCHEDULER)
    scheduler.set_timesteps(6)
    levels = NoiseLevels.from_scheduler(scheduler)
    if hasattr(scheduler, "sigmas"):
        np.testing.assert_allclose(levels.sigmas[:-1].numpy(), scheduler.sigmas[:-1].numpy(), rtol=1e-5)
    assert levels.variance_exploding == (sampler == "euler")
    generator = torch.Generator().manual_seed(0)
    clean = torch.full((400_000,), 0.7)
    noise = lambda: torch.randn(clean.shape, generator=generator)  # noqa: E731
    for index in (1, 3):
        sigma = float(levels.sigmas[index])
        scale = 1.0 if levels.variance_exploding else (1 + sigma**2) ** -0.5
        direct = levels.noised(clean, noise(), index)
        # q(x_k | x0) has mean scale * x0 and standard deviation scale * sigma ...
        assert float(direct.mean()) == pytest.approx(0.7 * scale, abs=0.01 * scale * sigma + 1e-4)
        assert float(direct.std()) == pytest.approx(scale * sigma, rel=0.01)
        # ... and re-noising a draw at level k + 2 back up to k gives the same distribution.
        back = levels.renoise(levels.noised(clean, noise(), index + 2), index + 2, index, noise())
        assert float(back.mean()) == pytest.approx(float(direct.mean()), abs=0.01 * scale * sigma + 1e-4)
        assert float(back.std()) == pytest.approx(float(direct.std()), rel=0.01)


class OracleUNet(torch.nn.Module):
    """Predicts the exact v (or epsilon) for a known clean latent, and records the implied noise."""

    def __init__(self, clean: torch.Tensor, alphas_cumprod: torch.Tensor, prediction_type: str, region: torch.Tensor):
        super().__init__()
        self.clean, self.alphas_cumprod, self.prediction_type, self.region = clean, alphas_cumprod, prediction_type, region
        self.noise_std: list[float] = []

    def forward(self, x, timesteps, context=None):
        alpha_bar = self.alphas_cumprod[timesteps.long()].float().view(-1, 1, 1, 1, 1)
        eps = (x - alpha_bar.sqrt() * self.clean) / (1 - alpha_bar).sqrt()
        self.noise_std.append(float(eps[0][self.region[0].expand_as(eps[0])].std()))
        if self.prediction_type == "epsilon":
            return eps
        return alpha_bar.sqrt() * eps - (1 - alpha_bar).sqrt() * self.clean


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_repaint_with_an_oracle_model_recovers_the_clean_latent_at_consistent_noise_levels(sampler):
    """With a model that knows x0, every evaluation must see noise of unit variance in the generated region
    (wrong re-noising or known-region levels would change it) and the result must be x0."""
    shape = (1, 4, 12, 12, 12)
    clean = torch.randn(shape, generator=torch.Generator().manual_seed(3)) * 0.5 + 0.2
    mask = torch.zeros((1, 1, 12, 12, 12))
    mask[..., :6] = 1.0
    scheduler = make_sampler(sampler, NOISE_SCHEDULER)
    oracle = OracleUNet(clean, scheduler.alphas_cumprod, NOISE_SCHEDULER["prediction_type"], mask.bool())
    problem = LatentProblem(clean, mask, PromptConditioning(torch.zeros(2, 4, 8)), guidance_scale=1.0)
    run = SamplerRun(sampler, NOISE_SCHEDULER, steps=6, seed=1, device=CPU)
    steps: list[tuple[int, int]] = []
    result = repaint(oracle, problem, run, Resampling(rounds=2, jump_length=2, stop_fraction=0.8),
                     on_step=lambda s, t: steps.append((s, t)))
    expected_evaluations = Resampling.model_evaluations(Resampling(2, 2, 0.8).path(6))
    assert len(oracle.noise_std) == expected_evaluations == steps[-1][0] == steps[-1][1]
    assert all(0.95 < s < 1.05 for s in oracle.noise_std), oracle.noise_std
    keep = ~mask.bool().expand_as(clean)
    assert torch.equal(result[keep], clean[keep])  # the known region is pasted exactly
    # DDIM's last step stops at alpha_bar[0] (set_alpha_to_one=False), a trace of noise (sigma 0.04).
    tolerance = 0.2 if sampler == "ddim" else 1e-3
    assert torch.allclose(result, clean, atol=tolerance)


def test_inpaint_unet_receives_noisy_latent_mask_and_masked_latent_in_that_order():
    latent_channels = 3
    clean = torch.randn((1, latent_channels, 4, 4, 4), generator=torch.Generator().manual_seed(0))
    mask = torch.zeros((1, 1, 4, 4, 4))
    mask[..., 1:3, 1:3, 1:3] = 1.0
    inputs = []

    class Recorder(torch.nn.Module):
        def forward(self, x, timesteps, context=None):
            inputs.append(x.clone())
            return torch.zeros((x.shape[0], latent_channels, *x.shape[2:]))

    problem = LatentProblem(clean, mask, PromptConditioning(torch.zeros(2, 4, 8)), guidance_scale=3.0)
    sample_with_inpaint_unet(Recorder(), problem, SamplerRun("ddim", NOISE_SCHEDULER, 2, 7, CPU))
    assert INPAINT_UNET_INPUT_ORDER == ("noisy_latent", "mask", "masked_latent")
    first = inputs[0]
    assert first.shape[1] == 2 * latent_channels + 1 and first.shape[0] == 2  # guidance: both branches
    start = torch.randn(clean.shape, generator=torch.Generator("cpu").manual_seed(7))  # the seeded start noise
    assert torch.allclose(first[0, :latent_channels], start[0])
    assert torch.equal(first[0, latent_channels], mask[0, 0])
    assert torch.equal(first[0, latent_channels + 1:], (clean * (1 - mask))[0])


def test_latent_mask_marks_every_block_touched_by_the_model_mask():
    model_mask = np.zeros((8, 8, 8), bool)
    model_mask[5, 0, 3] = True
    lat = latent_mask(model_mask, 4, CPU)
    assert lat.shape == (1, 1, 2, 2, 2)
    assert lat[0, 0, 1, 0, 0] == 1 and lat.sum() == 1
