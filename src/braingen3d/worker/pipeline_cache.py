"""The warm worker's loaded model: the last bundle and device a task asked for, kept for the next task."""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..pipelines.generation import BrainGenPipeline

logger = logging.getLogger(__name__)


def bundle_key(bundle: str | None, device: str) -> tuple[str, str, int, int]:
    """What identifies a loaded pipeline: the bundle folder, the device, and its config file's size and time
    (a bundle rewritten in place is loaded again)."""
    from ..bundle import default_bundle_path

    folder = Path(bundle).resolve() if bundle else default_bundle_path().resolve()
    config = folder / "config.json"
    stat = config.stat() if config.is_file() else None
    return str(folder), device, stat.st_size if stat else -1, stat.st_mtime_ns if stat else -1


class PipelineCache:
    """Holds at most one loaded ``BrainGenPipeline``; asking for another bundle or device releases it first,
    so the worker never holds two models in memory."""

    def __init__(self) -> None:
        self._key: tuple[str, str, int, int] | None = None
        self._pipeline: BrainGenPipeline | None = None
        self.loads = 0

    def get(self, bundle: str | None, device: str) -> "BrainGenPipeline":
        """The pipeline of ``bundle`` (None: the embedded one) on ``device``, loaded if it is not the cached one."""
        from ..pipelines.generation import BrainGenPipeline

        key = bundle_key(bundle, device)
        if key != self._key or self._pipeline is None:
            self.release()
            logger.info("Loading bundle %s on %s (kept loaded for the next tasks).", key[0], device)
            self._pipeline = BrainGenPipeline.from_bundle(bundle or None, device)
            self._key = key
            self.loads += 1
        return self._pipeline

    def release(self) -> None:
        """Forget the loaded pipeline and free its memory."""
        if self._pipeline is None:
            return
        self._pipeline, self._key = None, None
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover - torch is installed wherever a pipeline was loaded
            pass
