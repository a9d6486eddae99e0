"""Inpainting quality of a bundle: lesion contrast, untouched voxels and runtime over held-out subjects.

    python -m training.inpainting_report --bundle runs/default/bundle \
        --manifest cache/cohort/manifest.csv --out runs/default/quality

Each trial inpaints a 10 mm sphere in deep white matter of a held-out FLAIR or T2 image with a
lesion prompt, then measures the lesion's mean against the white matter within 10 mm around it
(pass: ratio >= --min-ratio) and the largest change outside the mask plus blend margin (must be 0).
With the engine's contrast check on (the default: up to 3 seeds per trial), the trials run twice: first
with one attempt each (the model's own samples), then as a user gets them. A control runs them once more
with --control-prompt ("no lesions"; "" skips it) and one attempt each: a lesion that appears there comes
from the mask, not the prompt. Writes inpainting.json and inpainting.md to --out.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import time
from pathlib import Path

from braingen3d.io import atomic_write_text
from braingen3d.pipelines.inpaint import LesionInpainter
from braingen3d.requests.inpaint import InpaintRequest

from .evaluation.card import update_card
from .evaluation.inpainting import markdown_trials, run_trials, summarise_trials

logger = logging.getLogger("training.inpainting_report")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=None, help="bundle folder (default: the embedded bundle)")
    parser.add_argument("--manifest", type=Path, required=True, help="the cohort manifest (with a test split)")
    parser.add_argument("--out", type=Path, required=True, help="folder for inpainting.json and inpainting.md")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--prompt", default="a 10 mm white-matter hyperintensity")
    parser.add_argument("--radius-mm", type=float, default=5.0,
                        help="radius of the spherical mask (the cohort's lesions are up to 11.5 mm across, median 8 mm)")
    parser.add_argument("--min-ratio", type=float, default=1.1,
                        help="a trial passes when lesion mean >= this x surrounding white-matter mean")
    parser.add_argument("--method", default="auto", choices=["auto", "repaint", "inpaint_unet"])
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--guidance", type=float, default=None)
    parser.add_argument("--negative-prompt", default=None,
                        help="guidance's unconditional branch (default: the bundle's inpainting default; \"\" for the "
                             "empty prompt)")
    parser.add_argument("--attempts", type=int, default=None,
                        help="the engine's contrast-check attempts per trial (default: the engine's, 3; 1 = first "
                             "samples only)")
    parser.add_argument("--min-contrast", type=float, default=None,
                        help="the engine's contrast-check margin (default: the engine's, 1.1)")
    parser.add_argument("--control-prompt", default="no lesions",
                        help='the control run\'s prompt, one attempt per trial ("" skips the control)')
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--update-card", action="store_true",
                        help="also write the measured section into the bundle's model card (README.md)")
    parser.add_argument("--tune-on-training", action="store_true",
                        help="run the trials on training subjects, to choose --method/--guidance/--steps without "
                             "looking at the held-out ones (refuses --update-card)")
    args = parser.parse_args(argv)
    if args.tune_on_training and args.update_card:
        parser.error("--tune-on-training measures training subjects; its results never go into the card. "
                     "Drop --update-card, or drop --tune-on-training for the held-out report.")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    inpainter = LesionInpainter.from_bundle(args.bundle, args.device)
    config = inpainter.config
    # The engine fills the bundle's (inpainting) defaults in; the report records what it resolved.
    checked = inpainter.resolve(InpaintRequest(args.prompt, negative_prompt=args.negative_prompt, steps=args.steps,
                                               guidance_scale=args.guidance, method=args.method, attempts=args.attempts,
                                               min_contrast=args.min_contrast))
    generation = checked.generation
    negative_prompt = generation.negative_prompt
    settings = {
        "prompt": args.prompt, "negative_prompt": negative_prompt, "radius_mm": args.radius_mm, "method": checked.method,
        "steps": generation.steps, "guidance": generation.guidance_scale, "sampler": generation.sampler,
        "device": str(inpainter.pipeline.device), "bundle": {"id": config.bundle_id, "version": config.version},
        "subjects": "training (tuning)" if args.tune_on_training else "held-out",
        "attempts": checked.attempts if checked.contrast.requested else 1, "min_contrast": checked.contrast.min_ratio,
    }
    trial_run = functools.partial(run_trials, inpainter, args.manifest, trials=args.trials, radius_mm=args.radius_mm,
                                  min_ratio=args.min_ratio, steps=args.steps, guidance=args.guidance,
                                  method=args.method, seed=args.seed, training=args.tune_on_training,
                                  negative_prompt=negative_prompt, min_contrast=args.min_contrast)
    started = time.perf_counter()
    first = None
    if settings["attempts"] > 1:
        logger.info("First samples only (one attempt per trial):")
        first_trials = trial_run(args.prompt, attempts=1)
        first = (summarise_trials(first_trials, args.min_ratio), first_trials)
        logger.info("With the engine's contrast check (up to %d attempts):", settings["attempts"])
    trials = trial_run(args.prompt, attempts=args.attempts)
    summary = summarise_trials(trials, args.min_ratio)
    control = None
    if args.control_prompt:
        logger.info("Control: prompt %r, one attempt per trial:", args.control_prompt)
        settings["control_prompt"] = args.control_prompt
        control = trial_run(args.control_prompt, attempts=1)
    results = {"settings": settings, "summary": summary, "trials": [t.to_dict() for t in trials],
               "wall_time_s": time.perf_counter() - started}
    if first is not None:
        results["first_attempt"] = {"summary": first[0], "trials": [t.to_dict() for t in first[1]]}
    if control is not None:
        results["control"] = {"summary": summarise_trials(control, args.min_ratio),
                              "trials": [t.to_dict() for t in control]}
    markdown = markdown_trials(summary, trials, settings, first, control)
    atomic_write_text(args.out / "inpainting.json", json.dumps(results, indent=2) + "\n", overwrite=True)
    atomic_write_text(args.out / "inpainting.md", markdown, overwrite=True)
    if args.update_card:
        update_card(inpainter.pipeline.bundle.path / "README.md", markdown)
    logger.info("%d/%d trials passed; wrote %s", summary["passed"], summary["trials"], args.out / "inpainting.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
