"""``braingen3d inpaint``: paint a prompted lesion into the masked region of a volume."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..core.device import DEVICE_CHOICES, resolve_device
from ..core.progress import ProgressEvent
from ..requests.inpaint import (
    DEFAULT_ATTEMPTS,
    DEFAULT_BLEND_MARGIN_MM,
    DEFAULT_MIN_CONTRAST,
    MAX_ATTEMPTS,
    METHODS,
    InpaintRequest,
)
from ..sampling.repaint import Resampling
from ..sampling.schedulers import SAMPLERS
from .common import EXIT_OK, ProgressBar

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    default = Resampling()
    parser = subparsers.add_parser(
        "inpaint",
        help="paint a prompted lesion into the masked region of a volume",
        description="Regenerate the masked region of a volume so it shows the prompted lesion. Voxels farther than "
                    "the blend margin from the mask are copied bit-identically. Writes the volume and the lesion mask "
                    "(in the volume's grid), each with a JSON provenance sidecar.",
        epilog='example: braingen3d inpaint flair.nii.gz lesion.nii.gz "a 15 mm white-matter hyperintensity" '
               "-o flair_lesion.nii.gz --seed 3",
    )
    parser.add_argument("volume", type=Path, help="the volume to edit (.nii, .nii.gz or .nrrd; any orientation and spacing)")
    parser.add_argument("mask", type=Path, help="lesion mask in the volume's grid (non-zero = region to regenerate)")
    parser.add_argument("prompt", help='the lesion, e.g. "multiple small periventricular lesions"')
    parser.add_argument("-o", "--output", required=True, type=Path, help="output volume (.nii.gz, .nii or .nrrd)")
    parser.add_argument("--mask-output", type=Path, default=None,
                        help="where to write the lesion mask (default: OUTPUT with _lesion_mask before the suffix)")
    parser.add_argument("--negative-prompt", default=None,
                        help="what to steer away from (default: the bundle's inpainting default; \"\" for none)")
    parser.add_argument("--steps", type=int, default=None, help="sampler steps, 1-1000 (default: the bundle's)")
    parser.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale, 0-100 (default: the bundle's)")
    parser.add_argument("--sampler", default=None, choices=list(SAMPLERS), metavar="{" + ",".join(SAMPLERS) + "}",
                        help="sampler (default: the bundle's)")
    parser.add_argument("--seed", type=int, default=None, help="seed (default: random, recorded in the sidecar)")
    parser.add_argument("--method", default="auto", choices=list(METHODS),
                        help="; ".join(f"{k}: {v}" for k, v in METHODS.items()))
    parser.add_argument("--blend-margin-mm", type=float, default=DEFAULT_BLEND_MARGIN_MM,
                        help=f"feathered band around the mask in mm (default {DEFAULT_BLEND_MARGIN_MM:g}); voxels beyond it are untouched")
    parser.add_argument("--resample-rounds", type=int, default=default.rounds,
                        help=f"repaint: times each jump is repeated (default {default.rounds}; 0 = no resampling)")
    parser.add_argument("--jump-length", type=int, default=default.jump_length,
                        help=f"repaint: steps each jump goes back (default {default.jump_length})")
    parser.add_argument("--attempts", type=int, default=DEFAULT_ATTEMPTS,
                        help=f"when the prompt names a contrast (e.g. 'hyperintensity') and a sample misses it, try the "
                             f"next seed, up to this many samples (default {DEFAULT_ATTEMPTS}, at most {MAX_ATTEMPTS}; "
                             "1 keeps the first sample)")
    parser.add_argument("--min-contrast", type=float, default=DEFAULT_MIN_CONTRAST,
                        help="the lesion mean / surrounding tissue median a hyperintense sample must reach (hypointense: "
                             f"its inverse; default {DEFAULT_MIN_CONTRAST:g})")
    parser.add_argument("--resample-mask", action="store_true",
                        help="if the mask's grid differs from the volume's, resample it (nearest neighbour) instead of refusing")
    parser.add_argument("--device", default="auto", help=f"{', '.join(DEVICE_CHOICES)} or cuda:N (default auto)")
    parser.add_argument("--bundle", type=Path, default=None, help="model bundle folder (default: the embedded bundle)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files (inputs are never replaced)")
    parser.set_defaults(handler=run)


class AttemptProgressBar(ProgressBar):
    """The progress bar over one sample's steps, extended by a sample's worth for each retry."""

    def __init__(self, steps_per_attempt: int, disable: bool = False) -> None:
        super().__init__(steps_per_attempt, disable)
        self.steps_per_attempt = steps_per_attempt

    def __call__(self, event: ProgressEvent) -> None:
        if event.phase == "denoise":
            wanted = self.steps_per_attempt * event.volume
            if self.bar.total < wanted:
                self.bar.total = wanted
            self.bar.set_description(f"attempt {event.volume}/{event.num_volumes}" if event.volume > 1 else "inpainting")
            self.bar.update(1)
        else:
            self.bar.set_postfix_str("decoded")


def run(args: argparse.Namespace) -> int:
    # Neither module imports torch: bad input is refused before the engine's import.
    from ..pipelines.inpaint.job import plan_inpaint_job, run_inpaint_job
    from ..pipelines.inpaint.outputs import InpaintOutputPaths, check_inpaint_outputs, write_inpaint_outputs

    request = InpaintRequest(args.prompt, args.negative_prompt, args.steps, args.guidance, args.sampler, args.seed,
                             args.method, args.blend_margin_mm,
                             Resampling(rounds=args.resample_rounds, jump_length=args.jump_length), args.attempts,
                             args.min_contrast)
    job = plan_inpaint_job(args.volume, args.mask, request, bundle=args.bundle, resample_mask=args.resample_mask)
    paths = InpaintOutputPaths.beside(args.output, args.mask_output)
    check_inpaint_outputs(paths, args.overwrite, sources=[args.volume, args.mask])
    resolve_device(args.device)
    bar = AttemptProgressBar(job.params.model_evaluations, disable=args.quiet)
    try:
        result = run_inpaint_job(job, args.device, callback=bar)
    finally:
        bar.close()
    source = job.inputs.volume
    for written in write_inpaint_outputs(result, paths, args.overwrite, source.xform_code, source.qform_code):
        print(written)
    logger.info("inpainted %d voxels (%d changed) in %.1f s with %s", job.inputs.mask_voxels,
                result.provenance["changed_voxels"], result.timings["total_seconds"], job.params.method)
    check = result.provenance["contrast_check"]
    if check["checked"]:
        used = next(a for a in check["attempts"] if a["seed"] == result.provenance["seed"])
        ratio = "n/a" if used["ratio"] is None else f"{used['ratio']:.2f}"
        logger.info("%s lesion: mean / surrounding tissue %s (margin %.2f) %s after %d attempt(s), seed %d",
                    check["requested"], ratio, check["min_ratio"], "reached" if check["passed"] else "NOT reached",
                    len(check["attempts"]), result.provenance["seed"])
    return EXIT_OK
