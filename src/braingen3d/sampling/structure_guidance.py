"""Structure guidance: steer sampling towards the structure volumes a prompt asks for.

The prompt's age and sex give the cohort's expected volume of each structure (the norms the
bundle ships); "enlarged ventricles" adds ``enlarged_z`` norm SDs, "normal ventricles" adds none.
At every sampler step a noise-aware regressor (``braingen3d.models.structure_regressor``) reads the
latent, and the gradient of a Gaussian log-likelihood around the target shifts the model's
prediction, as in classifier guidance (Dhariwal & Nichol, 2021). The gradient is smoothed first:
unsmoothed, it finds fine-grained latent changes that move the regressor but not the anatomy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch.nn import functional as F

from ..core.errors import InvalidInputError
from ..prompts.parser import facts_from_prompt, ventricle_finding

AGE_CENTRE, AGE_UNIT, ICV_CENTRE, ICV_UNIT = 55.0, 10.0, 1500.0, 100.0


def expected_volume(norm: Mapping[str, Any], age: float | None, sex: str | None, icv_ml: float | None = None) -> float:
    """A norm's expected volume (ml): ``c0 + c1 a + c2 a² + c3 male + c4 v``, ``a = (age - 55) / 10``, ``v = (icv - 1500) / 100``.

    Without an age it is the pooled mean; unknown sex counts as half male; an unknown ICV is the sex's mean ICV.
    """
    if age is None:
        return float(norm["mean"])
    icv_by_sex = norm.get("icv_by_sex", {})
    if icv_ml is None:
        icv_ml = icv_by_sex.get(sex or "all", icv_by_sex.get("all", ICV_CENTRE))
    a = (age - AGE_CENTRE) / AGE_UNIT
    male = 0.5 if sex is None else float(sex == "M")
    v = (icv_ml - ICV_CENTRE) / ICV_UNIT
    c = [*norm["coefficients"], 0.0, 0.0, 0.0, 0.0, 0.0][:5]
    return float(c[0] + c[1] * a + c[2] * a * a + c[3] * male + c[4] * v)


def targets_from_prompt(prompt: str, guidance: Mapping[str, Any]) -> dict[str, float]:
    """Target volumes (ml) the prompt implies; empty when it names neither an age nor the ventricles.

    Args:
        prompt: the generation prompt.
        guidance: the bundle's ``structure_guidance`` field (``structures``, ``norms``, ``enlarged_z``).
    """
    facts = facts_from_prompt(prompt)
    finding = ventricle_finding(prompt)
    if finding is None and "age" not in facts:
        return {}
    targets = {}
    for name in guidance["structures"]:
        norm = guidance["norms"][name]
        z = float(guidance["enlarged_z"]) if name == "ventricles_ml" and finding == "enlarged" else 0.0
        targets[name] = expected_volume(norm, facts.get("age"), facts.get("sex")) + z * float(norm["sd"])
    return targets


def _gaussian_kernel(sigma: float, device: torch.device) -> torch.Tensor:
    radius = max(1, int(round(2 * sigma)))
    offsets = torch.arange(-radius, radius + 1, device=device, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / kernel.sum()


def smooth(gradient: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian smoothing of ``(B, C, I, J, K)`` per channel (zero padding)."""
    if sigma <= 0:
        return gradient
    kernel = _gaussian_kernel(sigma, gradient.device)
    channels, radius = gradient.shape[1], (len(kernel) - 1) // 2
    for axis in range(3):
        shape = [1, 1, 1, 1, 1]
        shape[2 + axis] = len(kernel)
        padding = [0, 0, 0]
        padding[axis] = radius
        gradient = F.conv3d(gradient, kernel.view(shape).expand(channels, 1, *shape[2:]), padding=tuple(padding),
                            groups=channels)
    return gradient


@dataclass
class StructureGuidance:
    """Shifts each sampler prediction towards latents whose structures have the target volumes.

    Args:
        regressor: the bundle's ``NoisyLatentVolumeRegressor``.
        guidance: the bundle's ``structure_guidance`` field.
        targets_ml: target volume per structure (a subset of the bundle's structures).
        scale: guidance weight (0 disables it).
    """

    regressor: torch.nn.Module
    guidance: Mapping[str, Any]
    targets_ml: Mapping[str, float]
    scale: float

    def __post_init__(self) -> None:
        structures = list(self.guidance["structures"])
        unknown = sorted(set(self.targets_ml) - set(structures))
        if unknown:
            raise InvalidInputError(f"Structure targets {unknown} are not guided by this bundle; it guides {structures}.")
        self._indices = [structures.index(name) for name in self.targets_ml]
        mean = torch.tensor([self.guidance["output_mean"][i] for i in self._indices])
        std = torch.tensor([self.guidance["output_std"][i] for i in self._indices])
        self._targets = (torch.tensor([float(v) for v in self.targets_ml.values()]) - mean) / std

    @property
    def active(self) -> bool:
        return self.scale > 0 and bool(self.targets_ml)

    def correct(self, prediction: torch.Tensor, latents: torch.Tensor, timestep: torch.Tensor,
                alphas_cumprod: torch.Tensor, prediction_type: str) -> torch.Tensor:
        """The guided prediction: ``eps - sigma * w * grad log p(y | x_t)``, written in the model's parametrisation."""
        t = int(timestep)
        if not self.active or not int(self.guidance.get("min_guided_timestep", 0)) <= t <= int(
                self.guidance.get("max_guided_timestep", 1000)):
            return prediction
        with torch.inference_mode(False), torch.enable_grad(), torch.autocast(latents.device.type, enabled=False):
            x = latents.detach().clone().float().requires_grad_(True)
            output = self.regressor(x, torch.full((1,), t, device=x.device))[:, self._indices]
            residual = (output - self._targets.to(x.device)) / float(self.guidance["likelihood_sd"])
            log_likelihood = -0.5 * residual.pow(2).sum()
            (gradient,) = torch.autograd.grad(log_likelihood, x)
        gradient = smooth(gradient, float(self.guidance.get("smoothing_voxels", 0.0)))
        alpha_bar = alphas_cumprod[t].to(gradient.device).float()
        sigma = (1 - alpha_bar).sqrt()
        if prediction_type == "v_prediction":
            # v = (eps - sigma x_t) / alpha, so shifting eps by -sigma w g shifts v by -(sigma / alpha) w g.
            shift = -(sigma / alpha_bar.sqrt()) * self.scale * gradient
        else:
            shift = -sigma * self.scale * gradient
        return (prediction.float() + shift).to(prediction.dtype)
