"""The generation request: what the Python API, the CLI, batch, the worker and the Slicer module ask for.

A field left None takes the bundle's ``sampling_defaults``; ``resolve`` fills them, draws a random seed when
none is given, and checks every field, in this one place. No torch: the CLI checks a request before it loads
a model.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..core.errors import InvalidInputError
from ..prompts.parser import check_prompt, check_text
from ..sampling.schedulers import SAMPLERS

MAX_STEPS = 1000
MAX_SEED = 2**63 - 1
MAX_GUIDANCE = 100.0
"""Guidance scales above this make the guided prediction overflow into non-finite latents (bundles use 1-20)."""
MAX_STRUCTURE_GUIDANCE = 1000.0


def random_seed() -> int:
    """A seed for a call that gives none (recorded in the provenance, so the output can be made again)."""
    return random.SystemRandom().randrange(0, 2**31)


@dataclass(frozen=True)
class GenerationRequest:
    """One generation call; None means the bundle's default.

    Args:
        prompt: what to generate; the empty prompt needs ``allow_unconditional``.
        negative_prompt: replaces the empty prompt as the unconditional branch of guidance.
        steps: sampler steps, 1 to ``MAX_STEPS``.
        guidance_scale: classifier-free guidance weight, 0 to ``MAX_GUIDANCE``; 1 disables guidance.
        sampler: one of ``braingen3d.sampling.schedulers.SAMPLERS``.
        seed: base seed; volume ``k`` uses ``seed + k``, and every such seed must lie in 0 to ``MAX_SEED``
            (so each volume can be made again alone); random (and recorded) if None.
        num_volumes: how many volumes.
        allow_unconditional: permit an empty prompt.
        structure_guidance: structure-guidance weight (the bundle's ``structure_guidance`` default if None; 0 off).
        structure_targets_ml: target structure volumes (ml) replacing those the prompt implies.

    The structure-guidance fields are checked against the bundle's structure guidance when the pipeline runs.
    """

    prompt: str | None
    negative_prompt: str | None = ""
    steps: int | None = None
    guidance_scale: float | None = None
    sampler: str | None = None
    seed: int | None = None
    num_volumes: int = 1
    allow_unconditional: bool = False
    structure_guidance: float | None = None
    structure_targets_ml: Mapping[str, float] | None = None

    def resolve(self, defaults: Mapping[str, Any]) -> "GenerationRequest":
        """This request with ``defaults`` (a bundle's ``sampling_defaults``, or ``inpaint_defaults()``) filled in
        and a seed drawn, every field checked.

        Raises:
            InvalidInputError: naming the first bad field and the fix.
        """
        filled = replace(
            self,
            steps=int(defaults["steps"]) if self.steps is None else self.steps,
            guidance_scale=float(defaults["guidance_scale"]) if self.guidance_scale is None else self.guidance_scale,
            sampler=self.sampler or defaults["sampler"],
            seed=random_seed() if self.seed is None else self.seed,
        )
        return filled.validated()

    def validated(self) -> "GenerationRequest":
        """This request with every field checked (``resolve`` first when some are None)."""
        prompt = "" if self.prompt is None else self.prompt
        if not isinstance(prompt, str):
            raise InvalidInputError(f"The prompt must be text, not {type(prompt).__name__}.")
        check_prompt(prompt)
        if self.negative_prompt is not None:
            if not isinstance(self.negative_prompt, str):
                raise InvalidInputError(f"The negative prompt must be text, not {type(self.negative_prompt).__name__}.")
            check_text(self.negative_prompt, "negative prompt")
        if not prompt.strip() and not self.allow_unconditional:
            raise InvalidInputError(
                "The prompt is empty. Describe the brain to generate (e.g. \"T1-weighted MRI of a 45-year-old man\"), "
                "or pass --unconditional to sample without a prompt."
            )
        steps, guidance, seed, count = self.steps, self.guidance_scale, self.seed, self.num_volumes
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
            raise InvalidInputError(f"steps must be an integer from 1 to {MAX_STEPS}; got {steps!r}.")
        if isinstance(guidance, bool) or not isinstance(guidance, (int, float)) or not 0 <= guidance <= MAX_GUIDANCE:
            raise InvalidInputError(f"guidance must be a finite number from 0 to {MAX_GUIDANCE:g} (1 = no guidance; "
                                    f"bundles default to 1-20); got {guidance!r}.")
        if self.sampler not in SAMPLERS:
            raise InvalidInputError(f"Unknown sampler '{self.sampler}'. Choose one of: {', '.join(SAMPLERS)}.")
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
            raise InvalidInputError(f"seed must be an integer from 0 to 2^63-1; got {seed!r}.")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise InvalidInputError(f"The number of volumes (n) must be an integer >= 1; got {count!r}.")
        if seed + count - 1 > MAX_SEED:
            raise InvalidInputError(f"Volume {count} would use seed {seed + count - 1}, above 2^63-1; pass a seed of at "
                                    f"most {MAX_SEED - count + 1} for {count} volumes.")
        structure = self.structure_guidance
        if structure is not None and (isinstance(structure, bool) or not isinstance(structure, (int, float))
                                      or not 0 <= structure <= MAX_STRUCTURE_GUIDANCE):
            raise InvalidInputError(f"structure_guidance must be a finite number >= 0 and at most "
                                    f"{MAX_STRUCTURE_GUIDANCE:g} (0 = off); got {structure!r}.")
        for name, value in (self.structure_targets_ml or {}).items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InvalidInputError(f"Target volume {name} must be a finite number of ml; got {value!r}.")
        return replace(self, prompt=prompt.strip(), negative_prompt=(self.negative_prompt or "").strip(),
                       guidance_scale=float(guidance))

    def provenance_differences(self, record: Mapping[str, Any], index: int, bundle_id: str,
                               bundle_version: str) -> list[str]:
        """How a volume's provenance ``record`` differs from volume ``index`` of this (resolved) request made with
        the bundle ``bundle_id`` ``bundle_version``: ``"steps 20 (asked 25)"`` and the like; empty if it matches.

        Compared: the bundle id and version, prompt, negative prompt, seed, steps, guidance, sampler, and the
        structure-guidance weight and targets where this request sets them.
        """
        wanted: dict[str, Any] = {
            "bundle_id": bundle_id, "bundle_version": bundle_version, "prompt": self.prompt,
            "negative_prompt": self.negative_prompt, "seed": None if self.seed is None else self.seed + index,
            "steps": self.steps, "guidance_scale": self.guidance_scale, "sampler": self.sampler,
        }
        if self.structure_guidance is not None:
            wanted["structure_guidance"] = float(self.structure_guidance)
        found = dict(record)
        if self.structure_guidance == 0 and "structure_guidance" not in found:
            found["structure_guidance"] = 0.0  # off is not recorded
        differences = [f"{key} {found.get(key)!r} (asked {value!r})" for key, value in wanted.items()
                       if found.get(key) != value]
        for name, value in (self.structure_targets_ml or {}).items():
            recorded = (found.get("structure_targets_ml") or {}).get(name)
            if recorded != value:
                differences.append(f"structure_targets_ml.{name} {recorded!r} (asked {value!r})")
        return differences
