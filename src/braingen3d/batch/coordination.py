"""Opening one nnU-Net dataset from several processes: rank 0 creates it, the others join it.

``--resume`` and ``--overwrite`` decide how rank 0 opens the dataset (``new`` refuses a non-empty
folder). The other ranks must not apply that decision themselves, since by then rank 0 has already
filled the folder; they wait for rank 0's verdict and open the same dataset with ``resume``. The
wait uses a gloo process group (torchrun provides ``MASTER_ADDR``/``MASTER_PORT``); it is the only
communication between ranks, and only needed when ``WORLD_SIZE`` > 1.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
from collections.abc import Callable, Iterator

from ..core.errors import BrainGenError, InvalidInputError, OutputExistsError
from ..export import NnunetDatasetWriter
from .sharding import Shard

logger = logging.getLogger(__name__)

#: How long a rank waits for the others at the start and the end. Generous: at the end a rank whose
#: shard was resumed nearly complete waits for the slowest rank's remaining cases.
DEFAULT_TIMEOUT = datetime.timedelta(hours=24)
_ERRORS: dict[str, type[BrainGenError]] = {"OutputExistsError": OutputExistsError, "InvalidInputError": InvalidInputError}


@contextlib.contextmanager
def process_group(shard: Shard, timeout: datetime.timedelta = DEFAULT_TIMEOUT) -> Iterator[None]:
    """A gloo process group for the ranks of ``shard`` (nothing for a single process)."""
    if not shard.distributed:
        yield
        return
    import torch.distributed as dist

    if dist.is_initialized():  # the caller runs its own group
        yield
        return
    missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name)]
    if missing:
        raise InvalidInputError(
            f"WORLD_SIZE={shard.world_size} but {' and '.join(missing)} is not set. Launch the batch with torchrun "
            "(e.g. torchrun --nproc_per_node 2 -m braingen3d.cli.main batch ...), which sets them."
        )
    dist.init_process_group("gloo", rank=shard.rank, world_size=shard.world_size, timeout=timeout)
    try:
        yield
    finally:
        dist.destroy_process_group()


def open_dataset(make_writer: Callable[[str], NnunetDatasetWriter], mode: str, shard: Shard) -> NnunetDatasetWriter:
    """Open the dataset in ``mode`` on rank 0, then in ``resume`` mode on every other rank.

    Args:
        make_writer: builds the writer for a mode (``new``, ``resume`` or ``overwrite``).
        mode: how the user asked to open it.
        shard: this process's rank.

    Raises:
        the error rank 0 met (on rank 0 as raised; on the others as the same engine error type).
    """
    if not shard.distributed:
        return make_writer(mode)
    import torch.distributed as dist

    if shard.is_leader:
        verdict: list = [None]
        try:
            writer = make_writer(mode)
        except Exception as error:
            verdict = [(type(error).__name__, str(error))]
            dist.broadcast_object_list(verdict, src=0)
            raise
        dist.broadcast_object_list(verdict, src=0)
        return writer
    verdict = [None]
    dist.broadcast_object_list(verdict, src=0)
    if verdict[0] is not None:
        kind, message = verdict[0]
        raise _ERRORS.get(kind, InvalidInputError)(f"rank 0 could not open the dataset: {message}")
    return make_writer("resume")


def wait_for_all(shard: Shard) -> None:
    """Block until every rank reaches this point (no-op for a single process)."""
    if shard.distributed:
        import torch.distributed as dist

        dist.barrier()
