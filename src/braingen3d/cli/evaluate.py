"""``braingen3d evaluate``: a bundle's generated volumes against a reference cohort, as a report folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..evaluation.options import MEASURES as MEASURE_CHOICES
from .common import EXIT_OK


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="measure how far generated volumes are from a reference cohort (report folder)",
        description="Generate volumes with prompts built from each reference subject's modality, age and sex (or read "
                    "them from --generated), and compare them with the reference: in-brain histograms (Wasserstein), "
                    "Fréchet Radiomics Distance, two machine readers (cross-validated AUC), latent Fréchet distance "
                    "and MMD, diversity, memorisation, background and sharpness, and a montage. Every figure comes "
                    "with its reference-vs-reference baseline. Writes report.md, report.json and PNGs. "
                    "Needs the 'evaluate' extra: pip install \"braingen3d[evaluate]\".",
        epilog="example: braingen3d evaluate --reference cache/cohort/manifest.csv --training cache/cohort/manifest.csv "
               "--n 48 -o eval_report/   (see docs/evaluation.md)",
    )
    parser.add_argument("--reference", required=True, type=Path,
                        help="held-out real subjects: a folder of <subject>_<MODALITY>.nii.gz volumes or a manifest CSV")
    parser.add_argument("-o", "--output", required=True, type=Path, help="report folder to create")
    parser.add_argument("--bundle", type=Path, default=None, help="model bundle folder (default: the embedded bundle)")
    parser.add_argument("--training", type=Path, default=None,
                        help="training subjects (folder or manifest CSV), for the memorisation check")
    parser.add_argument("--generated", type=Path, default=None,
                        help="evaluate the volumes in this folder instead of generating (names <name>_<MODALITY>.nii.gz "
                             "or a JSON sidecar with the modality or prompt)")
    parser.add_argument("--n", type=int, default=40, dest="count",
                        help="volumes to generate, spread over the reference's modalities (default 40)")
    parser.add_argument("--seed", type=int, default=0, help="seed of volume 0 (volume k uses seed+k) and of the splits (default 0)")
    parser.add_argument("--steps", type=int, default=None, help="sampler steps (default: the bundle's)")
    parser.add_argument("--guidance", type=float, default=None, help="guidance scale (default: the bundle's)")
    parser.add_argument("--sampler", default=None, help="sampler (default: the bundle's)")
    parser.add_argument("--device", default="auto", help="device for generation (default auto)")
    parser.add_argument("--reference-split", default=None,
                        help="manifest split of the reference (default: test, else val, else every row)")
    parser.add_argument("--training-split", default=None, help="manifest split of the training set (default: train, else every row)")
    parser.add_argument("--frd-features", choices=("full", "original"), default="full",
                        help="radiomics of FRD: full = original + LoG + wavelet (the package's v1, about 15 s per volume); "
                             "original = unfiltered image only (about 10x faster)")
    parser.add_argument("--cnn-epochs", type=int, default=20, help="training epochs of the CNN reader per fold (default 20)")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds of both readers (default 5)")
    parser.add_argument("--skip", nargs="+", default=[], choices=MEASURE_CHOICES, metavar="MEASURE",
                        help="measures to leave out: " + ", ".join(MEASURE_CHOICES))
    parser.add_argument("--keep-generated", action="store_true",
                        help="also write the generated volumes (NIfTI + JSON sidecar) into the report folder")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing report folder")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation import CnnSettings, EvaluationOptions, evaluate

    options = EvaluationOptions(
        reference=args.reference, output=args.output, bundle=args.bundle, training=args.training,
        generated=args.generated, count=args.count, seed=args.seed, steps=args.steps, guidance=args.guidance,
        sampler=args.sampler, device=args.device, reference_split=args.reference_split,
        training_split=args.training_split, frd_features=args.frd_features,
        cnn=CnnSettings(epochs=args.cnn_epochs, folds=args.folds), folds=args.folds, skip=frozenset(args.skip),
        keep_generated=args.keep_generated, overwrite=args.overwrite, show_progress=not args.quiet,
    )
    report = evaluate(options)
    print(report / "report.md")
    return EXIT_OK
