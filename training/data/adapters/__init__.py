"""Dataset adapters that write a training manifest (see :mod:`training.data.manifest`)."""

from .bids import bids_rows
from .ixi import ixi_rows, read_ixi_demographics
from .oasis import oasis1_rows

__all__ = ["bids_rows", "ixi_rows", "oasis1_rows", "read_ixi_demographics"]
