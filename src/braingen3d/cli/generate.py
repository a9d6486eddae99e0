"""``braingen3d generate``: prompt → volume files (+ sidecar JSON and PNG preview)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..bundle import default_bundle_path, read_config
from ..core.device import DEVICE_CHOICES, check_device_name, resolve_device
from ..io import numbered, write_volume
from ..io.paths import image_output_suffix
from ..requests.generation import GenerationRequest
from ..sampling.schedulers import SAMPLERS
from .common import EXIT_OK, ProgressBar
from .generate_outputs import check_resume_seed, finished_note, volumes_to_make

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="generate synthetic brain MRI volumes from a text prompt",
        description="Generate synthetic 3D brain MRI from a prompt. Writes the volume, a JSON sidecar with full "
                    "provenance and a PNG preview (axial, coronal, sagittal mid-slices) beside it. With --n, each "
                    "volume is written as soon as it is made; a run that stops early is continued with --resume.",
        epilog='example: braingen3d generate "T2-weighted MRI of a 72-year-old woman with enlarged ventricles" '
               "-o brain.nii.gz --seed 7",
    )
    parser.add_argument("prompt", help="what to generate, e.g. \"FLAIR MRI of a 60-year-old man with multiple white-matter lesions\"")
    parser.add_argument("-o", "--output", required=True, type=Path,
                        help="output file (.nii.gz, .nii or .nrrd); with --n > 1 files are numbered name_001, name_002, ...")
    parser.add_argument("--negative-prompt", default="", help="what to steer away from (replaces the empty prompt in guidance)")
    parser.add_argument("--steps", type=int, default=None, help="sampler steps, 1-1000 (default: the bundle's)")
    parser.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale, 0-100; 1 = off (default: the bundle's)")
    parser.add_argument("--sampler", default=None, choices=list(SAMPLERS), metavar="{" + ",".join(SAMPLERS) + "}",
                        help="sampler (default: the bundle's); " + "; ".join(f"{k}: {v}" for k, v in SAMPLERS.items()))
    parser.add_argument("--seed", type=int, default=None, help="seed; volume k uses seed+k (default: random, recorded in the sidecar)")
    parser.add_argument("--n", type=int, default=1, dest="num_volumes", help="number of volumes (default 1)")
    parser.add_argument("--device", default="auto", help=f"{', '.join(DEVICE_CHOICES)} or cuda:N (default auto: CUDA if present)")
    parser.add_argument("--bundle", type=Path, default=None, help="model bundle folder (default: the embedded bundle)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run: keep the volumes already written whose sidecar matches "
                             "this command (bundle, prompt, negative prompt, seed, steps, guidance, sampler) and make "
                             "the rest; needs the run's --seed")
    parser.add_argument("--unconditional", action="store_true", help="allow an empty prompt (unconditional sampling)")
    parser.add_argument("--no-preview", action="store_true", help="do not write the PNG preview")
    parser.add_argument("--structure-guidance", type=float, default=None, metavar="W",
                        help="weight of the guidance towards the ventricle volume the prompt's age and wording imply "
                             "(default: the bundle's; 0 = off; bundles with capability structure_guidance)")
    parser.add_argument("--ventricles-ml", type=float, default=None, metavar="ML",
                        help="aim for this lateral-ventricle volume in ml instead of the one the prompt implies "
                             "(needs a structure-guidance weight above 0: the bundle's or --structure-guidance W)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Every argument is checked before torch and MONAI are imported (seconds), so a bad one is reported at once.
    bundle_path = args.bundle or default_bundle_path()
    config = read_config(bundle_path)
    targets_ml = None if args.ventricles_ml is None else {"ventricles_ml": args.ventricles_ml}
    params = GenerationRequest(args.prompt, args.negative_prompt, args.steps, args.guidance, args.sampler, args.seed,
                               args.num_volumes, args.unconditional, args.structure_guidance,
                               targets_ml).resolve(config.sampling_defaults)
    image_output_suffix(args.output)  # a folder or a .seg.nrrd is named as such before the names are numbered
    check_resume_seed(args.resume, args.seed)
    targets = [numbered(args.output, k, params.num_volumes) for k in range(params.num_volumes)]
    todo = volumes_to_make(targets, params, config.bundle_id, config.version, args.overwrite, args.resume,
                           preview=not args.no_preview)
    pending = set(todo)
    finished = [k for k in range(params.num_volumes) if k not in pending]
    if finished:
        logger.info("--resume: %d of %d volume(s) are already finished; making %d", len(finished),
                    params.num_volumes, len(todo))
    if not todo:
        return EXIT_OK
    check_device_name(args.device)
    from ..pipelines.generation import BrainGenPipeline

    resolve_device(args.device)
    pipeline = BrainGenPipeline.from_bundle(bundle_path, args.device)
    bar = ProgressBar(len(todo) * params.steps, disable=args.quiet)
    timings: dict[str, float] = {}
    try:
        # Each volume is written as soon as it is made, so a run that stops keeps the volumes before it.
        for k, volume in zip(todo, pipeline.generate_volumes(params, callback=bar, indices=todo, timings=timings)):
            for written in write_volume(volume, targets[k], overwrite=args.overwrite, preview=not args.no_preview):
                print(written, flush=True)
            finished.append(k)
    except BaseException as error:
        if params.num_volumes > 1:
            error.add_note(finished_note(targets, finished))
        raise
    finally:
        bar.close()
    logger.info("generated %d volume(s) in %.1f s", len(todo), timings.get("total_seconds", 0.0))
    return EXIT_OK
