"""``braingen3d batch``: many synthetic cases, with lesion labels, straight into an nnU-Net v2 raw dataset."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from ..batch.plan import (
    BatchPlan,
    GenerationSettings,
    LesionRanges,
    modality_of_prompts,
    parse_modality,
    plan_from_prompts,
    plan_from_template,
    read_prompt_file,
)
from ..batch.prompt_templates import ATTRIBUTES, DEFAULT_TEMPLATE
from ..batch.sharding import Shard
from ..bundle import BundleConfig, default_bundle_path, read_config
from ..core.device import DEVICE_CHOICES
from ..core.errors import BrainGenError, InvalidInputError
from ..requests.generation import GenerationRequest
from ..requests.inpaint import DEFAULT_BLEND_MARGIN_MM, METHODS, InpaintRequest
from ..sampling.schedulers import SAMPLERS
from .common import EXIT_INTERNAL, EXIT_OK

if TYPE_CHECKING:  # the runner imports torch; the CLI's --help must not
    from ..batch.runner import BatchEvent

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "batch",
        help="generate many cases (with lesion labels) into an nnU-Net v2 raw dataset",
        description="Generate N synthetic cases into an nnU-Net v2 raw dataset (imagesTr/<case>_0000.nii.gz, "
                    "labelsTr/<case>.nii.gz, dataset.json, provenance/<case>.json). Prompts come from a template with "
                    "attribute ranges or from a prompt file. Lesions are placed in white matter and inpainted; the "
                    "lesion mask is the label (1 = lesion). Rerun with --resume to continue a stopped batch. Under "
                    "torchrun, ranks split the cases (case i goes to rank i % WORLD_SIZE).",
        epilog='example: braingen3d batch -o nnUNet_raw --dataset-id 501 --dataset-name SynthLesions --modality FLAIR '
               '--template "{modality} MRI of a {age}-year-old {sex} with {ventricles} ventricles" --age 20-90 '
               "--sex both --ventricles normal,enlarged --lesions 0-3 --lesion-size-mm 5-15 --n 100 --seed 0. "
               "Template attributes: " + "; ".join(f"{{{k}}} {v}" for k, v in ATTRIBUTES.items()),
    )
    target = parser.add_argument_group("dataset")
    target.add_argument("-o", "--output", type=Path, default=None,
                        help="the nnUNet_raw folder to write into (default: $nnUNet_raw)")
    target.add_argument("--dataset-id", type=int, required=True, help="nnU-Net dataset id, 1-999 (folder DatasetNNN_NAME)")
    target.add_argument("--dataset-name", required=True, help="dataset name: letters, digits, '_' or '-'")
    target.add_argument("--case-prefix", default="synth", help="case ids are PREFIX_0000, PREFIX_0001, ... (default synth)")
    existing = target.add_mutually_exclusive_group()
    existing.add_argument("--resume", action="store_true", help="keep the finished cases of an earlier run and make the rest")
    existing.add_argument("--overwrite", action="store_true", help="delete the dataset's images, labels, provenance and "
                                                                   "dataset.json first")

    prompts = parser.add_argument_group("prompts")
    source = prompts.add_mutually_exclusive_group()
    source.add_argument("--template", default=None, help=f"prompt template (default: {DEFAULT_TEMPLATE!r})")
    source.add_argument("--prompts", type=Path, default=None, help="text file with one prompt per line ('#' comments)")
    prompts.add_argument("--n", "--num-cases", type=int, default=None, dest="num_cases",
                         help="number of cases (required with --template; default with --prompts: one per prompt). "
                              "Under torchrun write --num-cases: torchrun's own parser takes --n as an abbreviation")
    prompts.add_argument("--seed", type=int, default=0, help="base seed; case k uses seed+k (default 0)")
    prompts.add_argument("--modality", default=None, help="the dataset's single contrast: T1, T2, FLAIR or PD "
                                                          "(with --prompts it may be read from the prompts)")
    prompts.add_argument("--age", default=None, help="age range in years, e.g. 20-90 (default 20-90)")
    prompts.add_argument("--sex", default=None, help="both, female, male (default both)")
    prompts.add_argument("--ventricles", default=None, help="normal, enlarged, or normal,enlarged (default normal)")

    lesions = parser.add_argument_group("lesions (labels)")
    lesions.add_argument("--lesions", default=None, help="lesions per case, e.g. 0-3 (default 0)")
    lesions.add_argument("--lesion-size-mm", default=None, help="equivalent diameter of each lesion in mm, e.g. 5-15 (default 5-15)")
    lesions.add_argument("--lesion-prompt", default=None,
                         help="inpainting prompt; may use {lesions} (the caption phrase), {count}, {size} (largest "
                              "diameter, mm), {modality} (default '{lesions}', e.g. 'a 12 mm white-matter hyperintensity')")
    lesions.add_argument("--inpaint-method", default="auto", choices=list(METHODS), help="inpainting method (default auto)")
    lesions.add_argument("--blend-margin-mm", type=float, default=DEFAULT_BLEND_MARGIN_MM,
                         help=f"inpainting's feathered band around each lesion (default {DEFAULT_BLEND_MARGIN_MM:g})")

    model = parser.add_argument_group("model")
    model.add_argument("--negative-prompt", default="", help="what generation steers away from (inpainting uses the "
                                                              "bundle's inpainting negative prompt, as braingen3d inpaint)")
    model.add_argument("--steps", type=int, default=None, help="sampler steps (default: the bundle's)")
    model.add_argument("--guidance", type=float, default=None, help="generation's guidance scale, 0-100 (default: the bundle's; "
                                                                    "inpainting uses the bundle's inpainting guidance)")
    model.add_argument("--sampler", default=None, choices=list(SAMPLERS), metavar="{" + ",".join(SAMPLERS) + "}",
                       help="sampler (default: the bundle's)")
    model.add_argument("--bundle", type=Path, default=None, help="model bundle folder (default: the embedded bundle)")
    model.add_argument("--device", default="auto", help=f"{', '.join(DEVICE_CHOICES)} or cuda:N (default auto; under "
                                                        "torchrun auto uses cuda:LOCAL_RANK when CUDA exists)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan (one JSON line per case, with its seed, prompts, lesions and rank) and exit")
    parser.set_defaults(handler=run)


def _settings(args: argparse.Namespace, bundle_path: Path, modality: str) -> tuple[GenerationSettings, BundleConfig]:
    """Shared settings with the bundle's defaults filled in, and the bundle config."""
    config = read_config(bundle_path)
    # The shared settings only; each case's prompt and seed are checked when it runs.
    params = GenerationRequest("batch", args.negative_prompt, args.steps, args.guidance, args.sampler,
                               max(args.seed, 0)).resolve(config.sampling_defaults)
    # Inpainting takes the bundle's inpainting guidance and negative prompt, exactly as `braingen3d inpaint` does.
    inpaint = config.inpaint_defaults()
    settings = GenerationSettings(modality, config.bundle_id, config.version, params.steps, params.guidance_scale,
                                  params.sampler, params.negative_prompt, args.inpaint_method, args.blend_margin_mm,
                                  float(inpaint["guidance_scale"]), str(inpaint["negative_prompt"]))
    return settings, config


def build_plan(args: argparse.Namespace) -> tuple[BatchPlan, Path]:
    """The plan and the bundle path for the parsed arguments (no model is loaded)."""
    bundle_path = args.bundle or default_bundle_path()
    lesions = LesionRanges.parse(args.lesions, args.lesion_size_mm, args.lesion_prompt)
    modality = parse_modality(args.modality)
    if args.prompts is not None:
        for option in ("age", "sex", "ventricles"):
            if getattr(args, option) is not None:
                raise InvalidInputError(f"--{option} applies to --template; with --prompts the prompts are used verbatim.")
        prompt_list = read_prompt_file(args.prompts)
        settings, config = _settings(args, bundle_path, modality_of_prompts(prompt_list, modality))
        plan = plan_from_prompts(prompt_list, args.num_cases, args.seed, settings, lesions, args.case_prefix,
                                 str(args.prompts))
    else:
        if args.num_cases is None:
            raise InvalidInputError("Pass --n, the number of cases to generate from the template.")
        if modality is None:
            raise InvalidInputError("Pass --modality (T1, T2, FLAIR or PD): it names the dataset's channel and fills {modality}.")
        settings, config = _settings(args, bundle_path, modality)
        plan = plan_from_template(args.template or DEFAULT_TEMPLATE, args.num_cases, args.seed, settings, lesions,
                                  args.age, args.sex, args.ventricles, args.case_prefix)
    if any(case.lesion_count for case in plan.cases):
        # A bundle without inpainting fails here, not at case 1.
        InpaintRequest("a white-matter lesion", steps=settings.steps, method=settings.inpaint_method,
                       blend_margin_mm=settings.blend_margin_mm).resolve(config)
    return plan, bundle_path


class BatchProgressBar:
    """A tqdm bar over this rank's model evaluations; tqdm's ETA covers the rank's remaining cases."""

    def __init__(self, disable: bool) -> None:
        self.bar = tqdm(total=0, unit="step", desc="batch", disable=disable, file=sys.stderr, dynamic_ncols=True)

    def __call__(self, event: BatchEvent) -> None:
        self.bar.total = event.units_total
        self.bar.set_description(f"case {event.case_number}/{event.cases_total} {event.case_id}", refresh=False)
        self.bar.set_postfix_str(event.phase, refresh=False)
        self.bar.update(event.units_done - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def _output_root(args: argparse.Namespace) -> Path:
    root = args.output or (Path(os.environ["nnUNet_raw"]) if os.environ.get("nnUNet_raw") else None)
    if root is None:
        raise InvalidInputError("Pass -o/--output, the nnUNet_raw folder (or set the nnUNet_raw environment variable).")
    if root.exists() and not root.is_dir():
        raise InvalidInputError(f"{root} is a file; -o/--output must be the nnUNet_raw folder.")
    return root


def run(args: argparse.Namespace) -> int:
    plan, bundle_path = build_plan(args)
    shard = Shard.from_env()
    if args.dry_run:  # rank 0 prints the whole plan, with the rank that owns each case
        for case in plan.cases if shard.is_leader else ():
            print(json.dumps({**case.to_dict(), "digest": plan.digest(case), "rank": case.index % shard.world_size},
                             sort_keys=True))
        return EXIT_OK
    root = _output_root(args)
    mode = "resume" if args.resume else "overwrite" if args.overwrite else "new"
    if not shard.distributed:
        from ..batch.runner import check_dataset_target

        check_dataset_target(root, args.dataset_id, args.dataset_name, mode)
    try:
        return _run_batch(args, plan, bundle_path, root, mode, shard)
    except BrainGenError:
        raise  # OutputExistsError is also an OSError; it is a usage error, reported by run_guarded
    except OSError as error:
        notes = " ".join(getattr(error, "__notes__", []))
        print(f"error: {error}. {notes or 'Finished cases are kept; fix the cause and rerun with --resume.'}", file=sys.stderr)
        return EXIT_INTERNAL


def _run_batch(args, plan, bundle_path: Path, root: Path, mode: str, shard: Shard) -> int:
    from ..batch.coordination import open_dataset, process_group, wait_for_all
    from ..batch.runner import BatchRunner, check_plan_matches
    from ..export import NnunetDatasetWriter
    from ..pipelines.generation import BrainGenPipeline

    with process_group(shard):
        pipeline = BrainGenPipeline.from_bundle(bundle_path, shard.device(args.device))
        runner = BatchRunner(plan, pipeline)

        def make_writer(open_mode: str) -> NnunetDatasetWriter:
            root.mkdir(parents=True, exist_ok=True)
            writer = NnunetDatasetWriter(root, args.dataset_id, args.dataset_name, plan.settings.modality, open_mode,
                                         description=f"{len(plan)} planned cases; base seed {plan.base_seed}.")
            if open_mode == "resume" and shard.is_leader:
                check_plan_matches(writer, plan)
            return writer

        writer = open_dataset(make_writer, mode, shard)
        logger.info("%s: %d of %d planned cases are this process's; writing into %s", shard.label(),
                    len(shard.select(plan.cases)), len(plan), writer.folder)
        bar = BatchProgressBar(disable=args.quiet or not shard.is_leader)
        try:
            result = runner.run(writer, shard, callback=bar)
        finally:
            bar.close()
        wait_for_all(shard)
        if not shard.is_leader:
            return EXIT_OK
        total = writer.finalise()
    print(writer.folder)
    print(f"{total} of {len(plan)} planned cases are finished; this run wrote {len(result.written)} "
          f"({shard.label()}) and kept {len(result.skipped)} finished earlier.")
    return EXIT_OK
