"""Sampler factory: swappable diffusers schedulers configured from the bundle's noise schedule."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.errors import InvalidInputError

if TYPE_CHECKING:  # diffusers is imported on first use: the CLI's --help must not load torch
    from diffusers import DDPMScheduler
    from diffusers.schedulers.scheduling_utils import SchedulerMixin

SAMPLERS = {
    "dpm++": "DPM-Solver++ (2M) multistep, deterministic; good samples in ~20-25 steps",
    "ddim": "DDIM (eta = 0), deterministic; the classic 50-step sampler",
    "euler": "Euler discrete, deterministic",
    "ddpm": "Ancestral DDPM, stochastic; needs many steps",
}


def _schedule_kwargs(noise_scheduler: dict[str, Any]) -> dict[str, Any]:
    return {
        "num_train_timesteps": int(noise_scheduler.get("num_train_timesteps", 1000)),
        "beta_schedule": noise_scheduler.get("beta_schedule", "scaled_linear"),
        "beta_start": float(noise_scheduler.get("beta_start", 0.0015)),
        "beta_end": float(noise_scheduler.get("beta_end", 0.0195)),
        "prediction_type": noise_scheduler.get("prediction_type", "epsilon"),
    }


def make_training_scheduler(noise_scheduler: dict[str, Any]) -> "DDPMScheduler":
    """The forward (noising) process used in training; samplers share its betas."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(**_schedule_kwargs(noise_scheduler), clip_sample=False)


def make_sampler(name: str, noise_scheduler: dict[str, Any]) -> "SchedulerMixin":
    """A fresh scheduler for sampler ``name`` with the bundle's training noise schedule."""
    from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler

    kwargs = _schedule_kwargs(noise_scheduler)
    # "trailing" spacing starts sampling at the last training timestep, i.e. from pure noise.
    if name == "dpm++":
        return DPMSolverMultistepScheduler(**kwargs, algorithm_type="dpmsolver++", solver_order=2,
                                           timestep_spacing="trailing", lower_order_final=True)
    if name == "ddim":
        return DDIMScheduler(**kwargs, clip_sample=False, set_alpha_to_one=False, timestep_spacing="trailing")
    if name == "euler":
        return EulerDiscreteScheduler(**kwargs, timestep_spacing="trailing")
    if name == "ddpm":
        return DDPMScheduler(**kwargs, clip_sample=False, timestep_spacing="trailing")
    raise InvalidInputError(f"Unknown sampler '{name}'. Choose one of: {', '.join(SAMPLERS)}.")
