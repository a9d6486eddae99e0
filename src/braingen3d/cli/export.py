"""``braingen3d export``: a generated volume (and its lesion mask) to NIfTI, NRRD, Slicer .seg.nrrd or DICOM.

The export itself is ``braingen3d.pipelines.export.export_volume`` (also the worker's ``export`` task).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.errors import BrainGenError
from ..prompts.vocabulary import MODALITIES
from ..requests.export import FORMATS, LABEL_SUFFIX, PATIENT_SEXES, SEGMENTS, ExportRequest
from .common import EXIT_INTERNAL, EXIT_OK


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a generated volume and its lesion mask to NIfTI, NRRD, Slicer .seg.nrrd or DICOM",
        description="Convert a volume written by braingen3d (and optionally its label mask) for segmentation "
                    "tools. Provenance is carried over from the source; every output is marked synthetic. Formats: "
                    + "; ".join(f"{k}: {v}" for k, v in FORMATS.items()) + ".",
        epilog="examples: braingen3d export brain.nii.gz --to dicom -o dicom_out --mask brain_lesion_mask.nii.gz; "
               "braingen3d export brain.nii.gz --to seg.nrrd --mask brain_lesion_mask.nii.gz -o lesions.seg.nrrd",
    )
    parser.add_argument("volume", type=Path, help="a volume written by braingen3d (.nii, .nii.gz or .nrrd)")
    parser.add_argument("--to", required=True, choices=list(FORMATS), dest="format", help="output format")
    parser.add_argument("-o", "--output", required=True, type=Path,
                        help="output file (nifti: .nii.gz, nrrd: .nrrd, seg.nrrd: .seg.nrrd) or folder (dicom)")
    parser.add_argument("--mask", type=Path, default=None, help="label mask on the volume's grid (0 = background)")
    parser.add_argument("--mask-output", type=Path, default=None,
                        help=f"where the label goes for nifti/nrrd (default: OUTPUT with {LABEL_SUFFIX} before the suffix)")
    parser.add_argument("--segments", default="auto", choices=list(SEGMENTS),
                        help="what label values mean: lesion (1 = white-matter lesion), tissue (1 CSF, 2 grey matter, "
                             "3 white matter, 4 ventricles, 5 lesion) or auto (lesion for 0/1 masks, else tissue)")
    parser.add_argument("--modality", default=None, choices=list(MODALITIES),
                        help="DICOM contrast (default: from the provenance or the prompt)")
    parser.add_argument("--patient-age", type=int, default=None, help="DICOM Patient's Age of the synthetic subject, 0-120 "
                                                                      "(default: from the provenance or the prompt)")
    parser.add_argument("--patient-sex", default=None, choices=list(PATIENT_SEXES),
                        help="DICOM Patient's Sex of the synthetic subject (default: from the provenance or the prompt)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs (inputs are never replaced)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ..pipelines.export import export_volume

    request = ExportRequest(args.volume, args.format, args.output, args.mask, args.mask_output, args.segments,
                            args.modality, args.patient_age, args.patient_sex, args.overwrite)
    try:
        written = export_volume(request)
    except BrainGenError:
        raise  # OutputExistsError is also an OSError; it is a usage error, reported by run_guarded
    except OSError as error:  # full disk, permissions: nothing of this export was left behind
        print(f"error: {error}. No output of this export was kept; fix the cause and run it again.", file=sys.stderr)
        return EXIT_INTERNAL
    for path in written:
        print(path)
    return EXIT_OK
