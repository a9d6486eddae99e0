"""Validation of generation parameters, shared by the pipeline, CLI and worker."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.errors import InvalidInputError
from ..sampling.schedulers import SAMPLERS

MAX_STEPS = 1000
MAX_SEED = 2**63 - 1


@dataclass
class GenerationParameters:
    """Validated inputs of one generation call."""

    prompt: str
    negative_prompt: str
    steps: int
    guidance_scale: float
    sampler: str
    seed: int
    num_volumes: int


def validate_generation(prompt: str | None, negative_prompt: str | None, steps: int, guidance_scale: float,
                        sampler: str, seed: int, num_volumes: int, allow_unconditional: bool = False) -> GenerationParameters:
    """Check every parameter and raise ``InvalidInputError`` naming the first bad one and the fix."""
    prompt = "" if prompt is None else prompt
    if not isinstance(prompt, str):
        raise InvalidInputError(f"The prompt must be text, not {type(prompt).__name__}.")
    if not prompt.strip() and not allow_unconditional:
        raise InvalidInputError(
            "The prompt is empty. Describe the brain to generate (e.g. \"T1-weighted MRI of a 45-year-old man\"), "
            "or pass --unconditional to sample without a prompt."
        )
    negative_prompt = negative_prompt or ""
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise InvalidInputError(f"steps must be an integer from 1 to {MAX_STEPS}; got {steps!r}.")
    if isinstance(guidance_scale, bool) or not isinstance(guidance_scale, (int, float)) or not guidance_scale >= 0:
        raise InvalidInputError(f"guidance must be a number >= 0 (1 = no guidance); got {guidance_scale!r}.")
    if sampler not in SAMPLERS:
        raise InvalidInputError(f"Unknown sampler '{sampler}'. Choose one of: {', '.join(SAMPLERS)}.")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise InvalidInputError(f"seed must be an integer from 0 to 2^63-1; got {seed!r}.")
    if isinstance(num_volumes, bool) or not isinstance(num_volumes, int) or num_volumes < 1:
        raise InvalidInputError(f"The number of volumes (n) must be an integer >= 1; got {num_volumes!r}.")
    return GenerationParameters(prompt.strip(), negative_prompt.strip(), steps, float(guidance_scale), sampler, seed, num_volumes)
