"""Write a manifest for a dataset on disk.

Examples::

    python -m training.data.adapters ixi /data/IXI --demographics /data/IXI/IXI.xls --out /data/IXI/manifest.csv
    python -m training.data.adapters oasis1 /data/OASIS1 --table /data/OASIS1/oasis_cross-sectional.csv --out m.csv
    python -m training.data.adapters bids /data/ds000001 --out /data/ds000001/manifest.csv
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from braingen3d.core.errors import BrainGenError

from ..manifest import write_manifest
from .bids import bids_rows
from .ixi import ixi_rows
from .oasis import oasis1_rows

logger = logging.getLogger("training.data.adapters")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.data.adapters", description="Write a BrainGen3D training manifest for a dataset.")
    sub = parser.add_subparsers(dest="dataset", required=True)
    ixi = sub.add_parser("ixi", help="IXI (T1/T2/PD NIfTI files + IXI.xls)")
    ixi.add_argument("root", type=Path)
    ixi.add_argument("--demographics", type=Path, required=True, help="IXI.xls, IXI.xlsx or a CSV export of it")
    oasis = sub.add_parser("oasis1", help="OASIS-1 cross-sectional (disc folders + oasis_cross-sectional.csv)")
    oasis.add_argument("root", type=Path)
    oasis.add_argument("--table", type=Path, required=True, help="oasis_cross-sectional.csv")
    oasis.add_argument("--unmasked", action="store_true", help="use *_t88_gfc (with skull) instead of *_t88_masked_gfc")
    oasis.add_argument("--no-segmentation", action="store_true", help="do not add the FSL_SEG tissue maps")
    bids = sub.add_parser("bids", help="any BIDS dataset (participants.tsv + anat/)")
    bids.add_argument("root", type=Path)
    bids.add_argument("--name", default=None, help="dataset name (default from dataset_description.json)")
    for p in (ixi, oasis, bids):
        p.add_argument("--out", type=Path, required=True, help="manifest CSV to write")
        p.add_argument("--held-out-fraction", type=float, default=0.1, help="fraction of subjects in the test split (default 0.1)")
        p.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
        p.add_argument("--overwrite", action="store_true", help="replace an existing manifest")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    folder = args.out.resolve().parent
    try:
        if args.out.exists() and not args.overwrite:
            logger.error("%s exists; pass --overwrite to replace it.", args.out)
            return 2
        if args.dataset == "ixi":
            rows = ixi_rows(args.root, args.demographics, folder, args.held_out_fraction, args.seed)
        elif args.dataset == "oasis1":
            rows = oasis1_rows(args.root, args.table, folder, not args.unmasked, not args.no_segmentation, args.held_out_fraction, args.seed)
        else:
            rows = bids_rows(args.root, folder, args.held_out_fraction, args.seed, args.name)
        write_manifest(args.out, rows)
    except BrainGenError as error:
        logger.error("%s", error)
        return 2
    print(f"Wrote {len(rows)} rows to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
