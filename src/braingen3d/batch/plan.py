"""The batch plan: every case's id, seed, prompt, attributes and lesions, fixed before any generation.

The plan is a pure function of the arguments. Case ``k`` has seed ``base_seed + k`` and draws its
attributes from its own generator, seeded with ``(base_seed, k)``; so a case does not depend on the
number of cases (``--n 200`` extends ``--n 100`` with the same first 100 cases), nor on which process
generates it. A case's digest covers everything that shapes its output, which lets ``--resume``
refuse a dataset made with different settings instead of mixing two plans.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import InvalidInputError
from ..export.nnunet_naming import check_case_id
from ..prompts.parser import check_prompt, facts_from_prompt
from ..prompts.vocabulary import MODALITIES, NO_LESIONS, SEX_NOUNS, VENTRICLE_FINDINGS
from ..requests.generation import MAX_SEED
from .prompt_templates import (
    DEFAULT_LESION_PROMPT,
    LESION_PROMPT_FIELDS,
    PromptTemplate,
    lesion_phrase,
    render_lesion_prompt,
    template_fields,
)
from .ranges import NumberRange, parse_choice, parse_number_range

logger = logging.getLogger(__name__)

MAX_CASES = 100_000
MAX_LESIONS = 20
DEFAULT_AGE = "20-90"
DEFAULT_SEX = "both"
DEFAULT_VENTRICLES = "normal"
DEFAULT_LESIONS = "0"
DEFAULT_LESION_SIZE_MM = "5-15"


@dataclass(frozen=True)
class GenerationSettings:
    """What every case of a batch shares: the bundle and the sampler settings (bundle defaults resolved).

    Args:
        modality: the dataset's single channel (T1, T2, FLAIR or PD).
        bundle_id: the bundle's id.
        bundle_version: the bundle's version.
        steps: sampler steps for generation and inpainting.
        guidance_scale: classifier-free guidance weight.
        sampler: sampler name.
        negative_prompt: guidance's unconditional branch for generation.
        inpaint_method: ``auto``, ``repaint`` or ``inpaint_unet``.
        blend_margin_mm: inpainting's feathered band.
        inpaint_guidance_scale: inpainting's guidance weight (the bundle's inpainting default, as
            ``braingen3d inpaint`` resolves it; None: resolved by the inpainter when a case runs).
        inpaint_negative_prompt: inpainting's negative prompt (likewise the bundle's inpainting default).
    """

    modality: str
    bundle_id: str
    bundle_version: str
    steps: int
    guidance_scale: float
    sampler: str
    negative_prompt: str = ""
    inpaint_method: str = "auto"
    blend_margin_mm: float = 2.0
    inpaint_guidance_scale: float | None = None
    inpaint_negative_prompt: str | None = None


@dataclass(frozen=True)
class CaseSpec:
    """One planned case.

    Args:
        index: position in the plan (0-based); shards use ``index % world_size``.
        case_id: nnU-Net case identifier, ``<prefix>_<index:04d>``.
        seed: generation seed, ``base_seed + index``; inpainting and lesion placement derive from it.
        prompt: the generation prompt. Lesion-free (``{lesions}`` renders ``no lesions``): every lesion
            in the image must be in the label, so lesions are added only by inpainting.
        description: the prompt describing the finished case (with its lesions), or None for prompt lists.
        attributes: the attribute values the prompt expresses (modality, age, sex, ventricles).
        lesion_diameters_mm: one equivalent diameter per lesion to place (empty: no lesions).
        lesion_prompt: the inpainting prompt, None without lesions.
    """

    index: int
    case_id: str
    seed: int
    prompt: str
    description: str | None
    attributes: dict[str, Any]
    lesion_diameters_mm: tuple[float, ...] = ()
    lesion_prompt: str | None = None

    @property
    def lesion_count(self) -> int:
        return len(self.lesion_diameters_mm)

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["lesion_diameters_mm"] = list(self.lesion_diameters_mm)
        return record


def case_digest(case: CaseSpec, settings: GenerationSettings) -> str:
    """A short hash of everything that shapes the case's files (not the case's position or run)."""
    payload = {"case": {k: v for k, v in case.to_dict().items() if k != "index"}, "settings": asdict(settings)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class BatchPlan:
    """Every case of a batch plus the shared settings.

    Args:
        cases: the cases in index order.
        settings: shared generation settings.
        base_seed: seed of case 0.
        source: how the prompts were made (``{"template": ...}`` or ``{"prompt_file": ...}``) and the
            ranges used, for provenance and ``dataset.json``.
    """

    cases: tuple[CaseSpec, ...]
    settings: GenerationSettings
    base_seed: int
    source: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.cases)

    def digest(self, case: CaseSpec) -> str:
        return case_digest(case, self.settings)


@dataclass(frozen=True)
class LesionRanges:
    """How many lesions a case gets and how large they are.

    Args:
        count: lesions per case (integer range).
        diameter_mm: equivalent diameter of each lesion in mm.
        prompt: inpainting prompt template (fields: {lesions}, {count}, {size}, {modality}).
    """

    count: NumberRange
    diameter_mm: NumberRange
    prompt: str = DEFAULT_LESION_PROMPT

    @classmethod
    def parse(cls, count: str | None, diameter_mm: str | None, prompt: str | None) -> LesionRanges:
        prompt = DEFAULT_LESION_PROMPT if prompt is None else prompt
        if not prompt.strip():
            raise InvalidInputError("--lesion-prompt is empty; describe the lesion, e.g. 'a white-matter hyperintensity'.")
        template_fields(prompt, LESION_PROMPT_FIELDS, "lesion prompt")
        return cls(parse_number_range(count or DEFAULT_LESIONS, "--lesions", True, 0, MAX_LESIONS),
                   parse_number_range(diameter_mm or DEFAULT_LESION_SIZE_MM, "--lesion-size-mm", False, 1, 100), prompt)

    def draw(self, rng: np.random.Generator) -> tuple[float, ...]:
        count = self.count.draw(rng)
        return tuple(self.diameter_mm.draw(rng) for _ in range(count))


def parse_modality(text: str | None) -> str | None:
    """One modality; several are refused because nnU-Net's channels belong to the whole dataset."""
    if text is None:
        return None
    choice = parse_choice(text, "--modality", MODALITIES)
    if len(choice.values) > 1:
        raise InvalidInputError(
            f"--modality {text!r} names {len(choice.values)} contrasts, but an nnU-Net dataset has one channel list "
            "for all cases: channel 0 cannot be FLAIR in one case and T1 in another, and paired multi-channel cases "
            "would need every contrast of the same synthetic subject, which the model does not generate. Run one batch "
            "per modality, each with its own --dataset-id."
        )
    return choice.values[0]


def case_rng(base_seed: int, index: int) -> np.random.Generator:
    """The attribute generator of case ``index``: independent of the number of cases and of the other cases."""
    return np.random.default_rng(np.random.SeedSequence([base_seed, index]))


def case_id(prefix: str, index: int) -> str:
    return check_case_id(f"{prefix}_{index:04d}")


def _check_counts(n: int, base_seed: int, prefix: str) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_CASES:
        raise InvalidInputError(f"--n must be a whole number from 1 to {MAX_CASES}; got {n!r}.")
    if isinstance(base_seed, bool) or not isinstance(base_seed, int) or base_seed < 0 or base_seed + n - 1 > MAX_SEED:
        raise InvalidInputError(f"--seed must be a whole number from 0 to 2^63-{n} (case k uses seed+k); got {base_seed!r}.")
    check_case_id(f"{prefix}_0000")


def _checked_prompt(prompt: str, where: str) -> str:
    """``prompt`` after ``check_prompt``, its message saying which prompt of the batch it is."""
    try:
        check_prompt(prompt)
    except InvalidInputError as error:
        raise InvalidInputError(f"{where} ({prompt!r}): {error}") from None
    return prompt


def _lesion_prompt(lesions: LesionRanges, diameters: tuple[float, ...], modality: str) -> str | None:
    if not diameters:
        return None
    return render_lesion_prompt(lesions.prompt, len(diameters), max(diameters), modality)


def plan_from_template(
    template: str,
    n: int,
    base_seed: int,
    settings: GenerationSettings,
    lesions: LesionRanges,
    age: str | None = None,
    sex: str | None = None,
    ventricles: str | None = None,
    case_prefix: str = "synth",
) -> BatchPlan:
    """Cases whose prompts fill ``template`` with attributes drawn from the given ranges.

    Args:
        template: prompt template (see ``prompt_templates.ATTRIBUTES`` for the fields).
        n: number of cases.
        base_seed: case ``k`` gets seed ``base_seed + k``.
        settings: shared settings (``settings.modality`` fills ``{modality}``).
        lesions: lesion count and size ranges.
        age: age range such as ``20-90`` (default 20-90).
        sex: ``both``, ``female``, ``male``, ``F``, ``M`` (default both).
        ventricles: ``normal``, ``enlarged`` or both, comma-separated (default normal).
        case_prefix: case ids are ``<prefix>_0000``, ``<prefix>_0001``, ...
    """
    prompt_template = PromptTemplate(template)
    _check_counts(n, base_seed, case_prefix)
    used = set(prompt_template.fields)
    if "modality" not in used:
        logger.warning("The template has no {modality}: its prompts do not ask for %s, the dataset's channel.",
                       settings.modality)
    for option, value, name in (("--age", age, "age"), ("--sex", sex, "sex"), ("--ventricles", ventricles, "ventricles")):
        if value is not None and name not in used:
            logger.warning("%s is given but the template has no {%s}; it does not change the prompts.", option, name)
    age_range = parse_number_range(age or DEFAULT_AGE, "--age", True, 1, 120)
    sex_choice = parse_choice(sex or DEFAULT_SEX, "--sex", tuple(SEX_NOUNS),
                              {"both": ("F", "M"), "female": ("F",), "male": ("M",), "woman": ("F",), "man": ("M",)})
    ventricle_choice = parse_choice(ventricles or DEFAULT_VENTRICLES, "--ventricles", VENTRICLE_FINDINGS, {"both": VENTRICLE_FINDINGS})
    cases = []
    for k in range(n):
        rng = case_rng(base_seed, k)
        # Fixed draw order, whatever the template uses, so editing the template never reshuffles the others.
        drawn = {"modality": settings.modality, "age": age_range.draw(rng), "sex": sex_choice.draw(rng),
                 "ventricles": ventricle_choice.draw(rng)}
        diameters = lesions.draw(rng)
        attributes = {key: value for key, value in drawn.items() if key in used or key == "modality"}
        phrase = lesion_phrase(len(diameters), max(diameters, default=0.0), settings.modality)
        cases.append(CaseSpec(
            index=k, case_id=case_id(case_prefix, k), seed=base_seed + k,
            prompt=_checked_prompt(prompt_template.render(drawn, NO_LESIONS), f"The template's prompt of case {k}"),
            description=prompt_template.render(drawn, phrase),
            attributes=attributes, lesion_diameters_mm=diameters,
            lesion_prompt=_lesion_prompt(lesions, diameters, settings.modality),
        ))
    source = {"template": template, "ranges": {"age": age_range.to_text(), "sex": sex_choice.to_text(),
                                                "ventricles": ventricle_choice.to_text(),
                                                "lesions": lesions.count.to_text(),
                                                "lesion_size_mm": lesions.diameter_mm.to_text()},
              "lesion_prompt": lesions.prompt}
    return BatchPlan(tuple(cases), settings, base_seed, source)


def read_prompt_file(path: str | Path) -> list[str]:
    """Prompts from a text file: one per line; blank lines and lines starting with ``#`` are skipped."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InvalidInputError(f"The prompt file {path} does not exist. Give a text file with one prompt per line.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInputError(f"The prompt file {path} cannot be read as UTF-8 text ({error}).") from None
    prompts = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not prompts:
        raise InvalidInputError(f"The prompt file {path} holds no prompts (one per line; '#' starts a comment).")
    return prompts


def modality_of_prompts(prompts: Sequence[str], requested: str | None) -> str:
    """The dataset's modality: ``requested``, checked against every prompt that names one, or the one they agree on."""
    named = {i: facts_from_prompt(p).get("modality") for i, p in enumerate(prompts)}
    if requested is not None:
        clash = [(i, m) for i, m in named.items() if m and m != requested]
        if clash:
            line, modality = clash[0]
            raise InvalidInputError(
                f"Prompt {line + 1} ({prompts[line]!r}) asks for {modality} but the dataset's channel is {requested}; "
                "one nnU-Net dataset holds one contrast. Fix the prompt or split the list by modality."
            )
        return requested
    found = sorted({m for m in named.values() if m})
    if len(found) == 1:
        return found[0]
    reason = f"the prompts name {', '.join(found)}" if found else "no prompt names one"
    raise InvalidInputError(f"Pass --modality (T1, T2, FLAIR or PD) for the dataset's channel: {reason}.")


def plan_from_prompts(
    prompts: Sequence[str],
    n: int | None,
    base_seed: int,
    settings: GenerationSettings,
    lesions: LesionRanges,
    case_prefix: str = "synth",
    prompt_file: str | None = None,
) -> BatchPlan:
    """Cases from a prompt list, used in order and repeated if ``n`` exceeds the list (default: one case each).

    Args:
        prompts: the prompts, used verbatim; they should not ask for lesions (lesions come from inpainting,
            so that every lesion is labelled).
        n: number of cases (default ``len(prompts)``).
        base_seed: case ``k`` gets seed ``base_seed + k``.
        settings: shared settings.
        lesions: lesion count and size ranges.
        case_prefix: case id prefix.
        prompt_file: the file the prompts came from, for provenance.
    """
    if not prompts:
        raise InvalidInputError("The prompt list is empty.")
    n = len(prompts) if n is None else n
    _check_counts(n, base_seed, case_prefix)
    for number, prompt in enumerate(prompts, start=1):
        _checked_prompt(prompt, f"Prompt {number}")
    if lesions.count.high > 0:
        asking = [p for p in prompts if "lesion" in p.lower() or "hyperintens" in p.lower()]
        if asking:
            logger.warning("%d prompt(s) mention lesions (e.g. %r); lesions the model draws itself are not in the "
                           "labels. Prefer lesion-free prompts and let --lesions add labelled ones.", len(asking), asking[0])
    cases = []
    for k in range(n):
        rng = case_rng(base_seed, k)
        prompt = prompts[k % len(prompts)]
        diameters = lesions.draw(rng)
        attributes = {"modality": settings.modality, **{k2: v for k2, v in facts_from_prompt(prompt).items() if k2 != "modality"}}
        cases.append(CaseSpec(index=k, case_id=case_id(case_prefix, k), seed=base_seed + k, prompt=prompt,
                              description=None, attributes=attributes, lesion_diameters_mm=diameters,
                              lesion_prompt=_lesion_prompt(lesions, diameters, settings.modality)))
    source = {"prompt_file": prompt_file, "prompts": len(prompts),
              "ranges": {"lesions": lesions.count.to_text(), "lesion_size_mm": lesions.diameter_mm.to_text()},
              "lesion_prompt": lesions.prompt}
    return BatchPlan(tuple(cases), settings, base_seed, source)
