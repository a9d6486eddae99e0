"""Quality report of a trained bundle on the template cohort (results go into the card and README).

    python -m training.quality_report --bundle src/braingen3d/bundles/default \
        --manifest cache/cohort/manifest.csv --out runs/default/quality

Measures, on held-out subjects and fresh generations:
  * autoencoder reconstruction inside the brain (SSIM, PSNR);
  * modality adherence: tissue contrast order of generated volumes per prompted modality;
  * attribute adherence: seed-paired "enlarged" vs "normal ventricles" prompts, and the Spearman
    correlation between prompted age and measured ventricle volume;
  * realism and diversity: histogram distance to held-out subjects, pairwise MS-SSIM among samples
    of one prompt, and each sample's SSIM to its nearest training subject.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from braingen3d.io import atomic_write_text
from braingen3d.pipelines.generation import BrainGenPipeline
from braingen3d.prompts.vocabulary import MODALITIES

from .evaluation.adherence import contrast_follows, prompt, ventricles_ml
from .evaluation.card import update_card
from .evaluation.cohort_data import load_images
from .evaluation.realism import histogram_distance_to, mean_pairwise_ms_ssim, nearest_training_ssim
from .evaluation.reconstruction import reconstruction_scores
from .evaluation.report import markdown_report

logger = logging.getLogger("training.quality_report")
AGES = (22, 30, 38, 46, 54, 62, 70, 78, 84, 90)


def generate(pipeline: BrainGenPipeline, text: str, seed: int, args: argparse.Namespace) -> np.ndarray:
    return pipeline(text, args.negative_prompt, args.steps, args.guidance, args.sampler, seed,
                    structure_guidance=args.structure_guidance).volumes[0].array


def modality_and_age(pipeline, args, grid) -> list[dict]:
    """Ten ages per modality, alternating sex: contrast order and ventricle volume of each."""
    rows = []
    for m_index, modality in enumerate(MODALITIES):
        for a_index, age in enumerate(AGES[: args.per_modality]):
            sex = "F" if a_index % 2 else "M"
            text = prompt(modality, age, sex)
            seed = args.seed_offset + 1000 + 100 * m_index + a_index
            image = generate(pipeline, text, seed, args)
            ok, means = contrast_follows(image, modality, grid)
            rows.append({"prompt": text, "seed": seed, "modality": modality, "age": age, "contrast_ok": ok,
                         "means": means, "ventricles_ml": ventricles_ml(image, modality, grid)})
            logger.info("%s seed %d: contrast %s, ventricles %.1f ml", text, seed, ok, rows[-1]["ventricles_ml"])
    return rows


def ventricle_pairs(pipeline, args, grid) -> list[dict]:
    rows = []
    for index in range(args.pairs):
        modality = MODALITIES[index % len(MODALITIES)]
        age, sex, seed = 55 + (index % 4) * 5, "M" if index % 2 else "F", args.seed_offset + 2000 + index
        enlarged = generate(pipeline, prompt(modality, age, sex, "enlarged"), seed, args)
        normal = generate(pipeline, prompt(modality, age, sex, "normal"), seed, args)
        rows.append({"seed": seed, "modality": modality, "age": age,
                     "enlarged_ml": ventricles_ml(enlarged, modality, grid),
                     "normal_ml": ventricles_ml(normal, modality, grid)})
        logger.info("pair %d (%s): enlarged %.1f ml, normal %.1f ml", index, modality, rows[-1]["enlarged_ml"],
                    rows[-1]["normal_ml"])
    return rows


def realism(pipeline, args, manifest: Path) -> dict:
    modality = "T1"
    held_out = load_images(manifest, "test", (modality,))
    training = load_images(manifest, "train", (modality,))
    text = prompt(modality, 45, "M", "normal")
    samples = [generate(pipeline, text, args.seed_offset + 3000 + k, args) for k in range(args.diversity)]
    nearest = [nearest_training_ssim(s, training) for s in samples]
    baseline = [histogram_distance_to(h.image, training[:10]) for h in held_out[:5]]
    return {
        "prompt": text,
        "pairwise_ms_ssim": mean_pairwise_ms_ssim(samples),
        "histogram_w1_to_held_out": [histogram_distance_to(s, held_out) for s in samples],
        "histogram_w1_held_out_to_train_baseline": float(np.mean(baseline)),
        "nearest_training": [{"subject": s, "ssim": v} for s, v in nearest],
    }


def _structure_guidance_weight(pipeline: BrainGenPipeline, requested: float | None) -> float:
    """The structure-guidance weight the generations use (0 when the bundle has none)."""
    guidance = pipeline.config.structure_guidance
    if pipeline.bundle.structure_regressor is None or guidance is None:
        return 0.0
    return float(guidance["guidance_scale"]) if requested is None else float(requested)


def summarise(results: dict) -> dict:
    recon = results["reconstruction"]
    modality_rows = results["modality_and_age"]
    pairs = results["ventricle_pairs"]
    ages = [r["age"] for r in modality_rows]
    volumes = [r["ventricles_ml"] for r in modality_rows]
    per_modality_rho = {m: float(spearmanr([r["age"] for r in modality_rows if r["modality"] == m],
                                           [r["ventricles_ml"] for r in modality_rows if r["modality"] == m])[0])
                        for m in MODALITIES}
    realism_result = results["realism"]
    summary = {
        "ae_ssim_mean": float(np.mean([r["ssim"] for r in recon])),
        "ae_psnr_mean": float(np.mean([r["psnr"] for r in recon])),
        "modality_adherence": float(np.mean([r["contrast_ok"] for r in modality_rows])),
        "modality_generations": len(modality_rows),
        "ventricle_pairs_larger": float(np.mean([p["enlarged_ml"] > p["normal_ml"] for p in pairs])),
        "ventricle_pairs": len(pairs),
        # The sign alone can pass with a negligible effect; the size says whether the words control anything.
        "ventricle_pairs_median_difference_ml": float(np.median([p["enlarged_ml"] - p["normal_ml"] for p in pairs])),
        "age_ventricle_spearman": float(spearmanr(ages, volumes)[0]),
        "age_ventricle_spearman_per_modality": per_modality_rho,
        "pairwise_ms_ssim": realism_result["pairwise_ms_ssim"],
        "max_nearest_training_ssim": max(n["ssim"] for n in realism_result["nearest_training"]),
        "histogram_w1_mean": float(np.mean(realism_result["histogram_w1_to_held_out"])),
        "histogram_w1_baseline": realism_result["histogram_w1_held_out_to_train_baseline"],
    }
    summary["targets"] = {
        "ae_ssim >= 0.95": summary["ae_ssim_mean"] >= 0.95,
        "ae_psnr >= 30 dB": summary["ae_psnr_mean"] >= 30,
        "modality adherence >= 95%": summary["modality_adherence"] >= 0.95,
        "enlarged > normal in >= 90% of pairs": summary["ventricle_pairs_larger"] >= 0.90,
        "Spearman(age, ventricles) >= 0.5": summary["age_ventricle_spearman"] >= 0.5,
        "pairwise MS-SSIM < 0.95": summary["pairwise_ms_ssim"] < 0.95,
    }
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=None, help="bundle folder (default: the embedded bundle)")
    parser.add_argument("--manifest", type=Path, required=True, help="the cohort manifest (with a test split)")
    parser.add_argument("--out", type=Path, required=True, help="folder for quality.json and quality.md")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--guidance", type=float, default=None)
    parser.add_argument("--sampler", default=None)
    parser.add_argument("--negative-prompt", default="")
    parser.add_argument("--structure-guidance", type=float, default=None,
                        help="structure guidance weight (default: the bundle's; 0 measures the text U-Net alone)")
    parser.add_argument("--seed-offset", type=int, default=0,
                        help="added to every generation seed; tune settings with another offset than the reported run's")
    parser.add_argument("--per-modality", type=int, default=10, help="generations per modality (4 modalities)")
    parser.add_argument("--pairs", type=int, default=20, help="seed-paired enlarged/normal ventricle prompts")
    parser.add_argument("--diversity", type=int, default=10, help="samples of one prompt for diversity")
    parser.add_argument("--held-out", type=int, default=6, help="held-out subjects per modality for reconstruction")
    parser.add_argument("--update-card", action="store_true",
                        help="also write the measured section into the bundle's model card (README.md)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    pipeline = BrainGenPipeline.from_bundle(args.bundle, "auto")
    grid = pipeline.config.grid
    results = {
        "bundle": {"id": pipeline.config.bundle_id, "version": pipeline.config.version},
        "sampling": {"steps": args.steps or pipeline.config.sampling_defaults["steps"],
                     "guidance": args.guidance or pipeline.config.sampling_defaults["guidance_scale"],
                     "sampler": args.sampler or pipeline.config.sampling_defaults["sampler"],
                     "negative_prompt": args.negative_prompt, "seed_offset": args.seed_offset,
                     "structure_guidance": _structure_guidance_weight(pipeline, args.structure_guidance)},
        "reconstruction": reconstruction_scores(pipeline.bundle, load_images(args.manifest, "test", None, args.held_out)),
    }
    results["modality_and_age"] = modality_and_age(pipeline, args, grid)
    results["ventricle_pairs"] = ventricle_pairs(pipeline, args, grid)
    results["realism"] = realism(pipeline, args, args.manifest)
    results["summary"] = summarise(results)
    results["wall_time_s"] = time.perf_counter() - start
    atomic_write_text(args.out / "quality.json", json.dumps(results, indent=2, default=float) + "\n", overwrite=True)
    atomic_write_text(args.out / "quality.md", markdown_report(results), overwrite=True)
    if args.update_card:
        update_card(pipeline.bundle.path / "README.md", markdown_report(results))
    logger.info("wrote %s", args.out / "quality.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
