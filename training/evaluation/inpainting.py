"""Lesion-inpainting trials on held-out cohort subjects: contrast, untouched voxels and runtime."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage as ndi

from braingen3d.pipelines.inpaint import LesionInpainter
from braingen3d.pipelines.inpaint.contrast_check import lesion_contrast, max_change_outside

from .cohort_data import read_manifest

logger = logging.getLogger(__name__)

WHITE_MATTER_LABEL = 3
HYPERINTENSE_MODALITIES = ("FLAIR", "T2")


@dataclass
class InpaintTrial:
    """One inpainting trial and what was measured."""

    subject_id: str
    modality: str
    seed: int
    centre_voxel: list[int]
    mask_voxels: int
    lesion_mean: float
    surround_wm_mean: float
    ratio: float
    original_ratio: float
    max_change_outside: float
    changed_region_voxels: int
    seconds: float
    passed: bool
    returned_seed: int = -1
    attempts: int = 1
    engine_ratios: list[float | None] | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def deep_white_matter_centre(white_matter: np.ndarray, radius_voxels: float, rng: np.random.Generator) -> np.ndarray:
    """A voxel at least ``radius_voxels + 1`` deep inside white matter (random among those), or the deepest one."""
    depth = ndi.distance_transform_edt(white_matter)
    candidates = np.argwhere(depth >= radius_voxels + 1.0)
    if len(candidates) == 0:
        return np.array(np.unravel_index(int(np.argmax(depth)), depth.shape))
    return candidates[int(rng.integers(len(candidates)))]


def sphere(shape: tuple[int, int, int], centre: np.ndarray, radius_voxels: float) -> np.ndarray:
    distance = np.linalg.norm(np.indices(shape) - np.asarray(centre).reshape(3, 1, 1, 1), axis=0)
    return distance <= radius_voxels


def held_out_rows(manifest: Path, modalities: tuple[str, ...], trials: int,
                  training: bool = False) -> list[dict[str, str]]:
    """``trials`` held-out rows (training rows if ``training``, for choosing settings without touching
    the held-out subjects), alternating over ``modalities``, each subject used once per modality."""
    rows = [r for r in read_manifest(manifest) if (r["split"] == "train") == training and r["modality"] in modalities]
    by_modality = {m: [r for r in rows if r["modality"] == m] for m in modalities}
    chosen = []
    for index in range(trials):
        pool = by_modality[modalities[index % len(modalities)]]
        if not pool:
            raise ValueError(f"The manifest {manifest} has no {'training' if training else 'held-out'} "
                             f"{modalities[index % len(modalities)]} images.")
        chosen.append(pool[(index // len(modalities)) % len(pool)])
    return chosen


def run_trials(inpainter: LesionInpainter, manifest: Path, prompt: str, trials: int, radius_mm: float,
               min_ratio: float, steps: int | None, guidance: float | None, method: str, seed: int = 0,
               modalities: tuple[str, ...] = HYPERINTENSE_MODALITIES, training: bool = False,
               negative_prompt: str | None = None, attempts: int | None = None,
               min_contrast: float | None = None) -> list[InpaintTrial]:
    """Inpaint a sphere of ``radius_mm`` in deep white matter of held-out subjects and measure each result.

    A trial passes when the lesion's mean is at least ``min_ratio`` times the mean of the white
    matter within 10 mm around it, and no voxel outside the mask plus blend margin changed.
    ``attempts`` and ``min_contrast`` set the engine's own contrast check (its defaults if None); the
    trial measures the volume the engine returns, against the tissue labels the engine never sees.
    """
    folder = Path(manifest).parent
    rng = np.random.default_rng(seed)
    results = []
    for index, row in enumerate(held_out_rows(manifest, modalities, trials, training)):
        image = nib.load(str(folder / row["image"]))
        volume = np.asarray(image.dataobj, dtype=np.float32)
        labels = np.asarray(nib.load(str(folder / row["tissue_map"])).dataobj)
        spacing = tuple(float(s) for s in image.header.get_zooms()[:3])
        white_matter = labels == WHITE_MATTER_LABEL
        radius = radius_mm / spacing[0]
        centre = deep_white_matter_centre(white_matter, radius, rng)
        mask = sphere(volume.shape, centre, radius)
        started = time.perf_counter()
        result = inpainter(volume, image.affine, mask, prompt, negative_prompt=negative_prompt,
                           num_inference_steps=steps, guidance_scale=guidance,
                           seed=seed + index, method=method, attempts=attempts, min_contrast=min_contrast)
        seconds = time.perf_counter() - started
        region = np.zeros(volume.shape, dtype=bool)
        region[result.region.indices] = True
        contrast = lesion_contrast(volume, result.array, mask, white_matter, spacing)
        outside = max_change_outside(volume, result.array, region)
        trial = InpaintTrial(
            subject_id=row["subject_id"], modality=row["modality"], seed=seed + index, centre_voxel=[int(c) for c in centre],
            mask_voxels=int(mask.sum()), lesion_mean=contrast.lesion_mean, surround_wm_mean=contrast.surround_wm_mean,
            ratio=contrast.ratio, original_ratio=contrast.original_ratio, max_change_outside=outside,
            changed_region_voxels=int(region.sum()), seconds=seconds,
            passed=bool(contrast.ratio >= min_ratio and outside == 0.0),
            returned_seed=int(result.provenance["seed"]), attempts=len(result.contrast_attempts),
            engine_ratios=[None if not np.isfinite(a.ratio) else float(a.ratio) for a in result.contrast_attempts],
        )
        logger.info("trial %d %s %s: ratio %.3f (before %.3f), outside max change %g, %.1f s, %d attempt(s) -> %s", index,
                    trial.subject_id, trial.modality, trial.ratio, trial.original_ratio, outside, seconds, trial.attempts,
                    "pass" if trial.passed else "FAIL")
        results.append(trial)
    return results


def summarise_trials(trials: list[InpaintTrial], min_ratio: float) -> dict:
    ratios = np.array([t.ratio for t in trials])
    seconds = np.array([t.seconds for t in trials])
    return {
        "trials": len(trials),
        "passed": int(sum(t.passed for t in trials)),
        "pass_fraction": float(np.mean([t.passed for t in trials])),
        "min_ratio": min_ratio,
        "ratio_median": float(np.median(ratios)),
        "ratio_min": float(ratios.min()),
        "original_ratio_median": float(np.median([t.original_ratio for t in trials])),
        "max_change_outside": float(max(t.max_change_outside for t in trials)),
        "seconds_median": float(np.median(seconds)),
        "seconds_max": float(seconds.max()),
        "trials_retried": int(sum(t.attempts > 1 for t in trials)),
        "attempts_total": int(sum(t.attempts for t in trials)),
    }


CONTROL_NOTE = ("The control asks for no lesion in the same spheres with the same seeds. A model that draws a lesion "
                "because of the mask rather than the prompt reaches the margin there too. On T2, white matter is the "
                "darkest tissue, so normal tissue generated in its place often reaches the margin without a lesion.")


def _by_modality(trials: list[InpaintTrial], counted: Callable[[InpaintTrial], bool] = lambda t: t.passed) -> str:
    """``FLAIR k/n, T2 k/n``: per modality, how many trials are ``counted`` (by default, those that passed)."""
    modalities = sorted({t.modality for t in trials})
    return ", ".join(f"{m} {sum(counted(t) for t in trials if t.modality == m)}/{sum(t.modality == m for t in trials)}"
                     for m in modalities)


def _ratio_row(label: str, summary: dict, trials: list[InpaintTrial]) -> str:
    return (f"| {label} | median {summary['ratio_median']:.3f}, lowest {summary['ratio_min']:.3f} (before inpainting: "
            f"median {summary['original_ratio_median']:.3f}) | >= {summary['min_ratio']:g} in >= 90% "
            f"| {summary['passed']}/{summary['trials']} ({100 * summary['pass_fraction']:.0f}%; {_by_modality(trials)}): "
            f"{'pass' if summary['pass_fraction'] >= 0.9 else 'FAIL'} |")


def control_row(prompt: str, control: list[InpaintTrial], min_ratio: float) -> str:
    """The control row: the same trials prompted for no lesion, one sample each; how many still reach the margin."""
    ratios = np.array([t.ratio for t in control])
    by_modality = _by_modality(control, lambda t: t.ratio >= min_ratio)
    return (f"| control: prompt \"{prompt}\", first sample only | median {np.median(ratios):.3f}, lowest "
            f"{ratios.min():.3f} | below {min_ratio:g}: the lesion follows the prompt | "
            f"{int((ratios >= min_ratio).sum())}/{len(control)} reach {min_ratio:g} ({by_modality}): measured |")


def markdown_trials(summary: dict, trials: list[InpaintTrial], settings: dict,
                    first: tuple[dict, list[InpaintTrial]] | None = None,
                    control: list[InpaintTrial] | None = None) -> str:
    """The card section. ``first``: the same trials with one attempt each (the model's own samples), if measured;
    ``control``: the same trials with ``settings["control_prompt"]`` and one attempt each, if measured."""
    checked = settings.get("attempts", 1) > 1
    check = (f" The engine's contrast check tried up to {settings['attempts']} seeds per trial (margin "
             f"{settings['min_contrast']:g} against the surrounding tissue, measured without tissue labels) and "
             f"retried {summary['trials_retried']} of {summary['trials']} trials ({summary['attempts_total']} samples "
             "in all); the seed column is the first attempt's." if checked
             else " One attempt per trial (the engine's contrast check made no retries).")
    lines = [
        "## Measured inpainting quality",
        "",
        f"{summary['trials']} trials on {settings.get('subjects', 'held-out')} template-cohort subjects ({', '.join(sorted({t.modality for t in trials}))}): "
        f"a {2 * settings['radius_mm']:g} mm sphere in deep white matter, prompt \"{settings['prompt']}\""
        + (f", negative prompt \"{settings['negative_prompt']}\"" if settings.get("negative_prompt") else "") + ", method "
        f"`{settings['method']}`, {settings['steps']} {settings['sampler']} steps, guidance {settings['guidance']}, on "
        f"{settings['device']}." + check,
        "",
        "| measure | result | target | status |",
        "| --- | --- | --- | --- |",
    ]
    if first is not None:
        lines.append(_ratio_row("lesion / surrounding white matter, first sample only (`--attempts 1`)", *first))
    lines += [
        _ratio_row("lesion / surrounding white matter (mean intensity ratio)" + (", with the contrast check" if checked
                                                                                 else ""), summary, trials),
        f"| max abs change outside mask + blend margin | {summary['max_change_outside']:g} | 0 | "
        f"{'pass' if summary['max_change_outside'] == 0 else 'FAIL'} |",
    ]
    if control is not None:
        lines.append(control_row(settings["control_prompt"], control, summary["min_ratio"]))
    if first is not None:
        lines.append(f"| runtime per inpaint, first sample only | median {first[0]['seconds_median']:.1f} s, max "
                     f"{first[0]['seconds_max']:.1f} s | - | measured |")
    lines += [
        f"| runtime per inpaint{', with retries' if checked else ''} | median {summary['seconds_median']:.1f} s, max "
        f"{summary['seconds_max']:.1f} s | - | measured |",
        "",
        "| # | subject | modality | seed | attempts | ratio | before | seconds | status |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for index, t in enumerate(trials):
        lines.append(f"| {index} | {t.subject_id} | {t.modality} | {t.seed} | {t.attempts} | {t.ratio:.3f} | "
                     f"{t.original_ratio:.3f} | {t.seconds:.1f} | {'pass' if t.passed else 'FAIL'} |")
    if control is not None:
        lines += ["", CONTROL_NOTE]
    return "\n".join(lines) + "\n"
