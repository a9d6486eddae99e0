"""Everything the evaluation takes from the rest of the engine, in one place.

The evaluation modules import engine names only from here, so a move of an engine module changes
this file alone. Names that pull in torch are imported on first use, so ``braingen3d --help`` stays
light.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.errors import BrainGenError, BundleError, InvalidInputError, OutputExistsError
from ..core.geometry import Grid
from ..io.atomic import atomic_directory, atomic_write_text, refuse_existing, remove_stale_partials
from ..prompts.parser import facts_from_prompt
from ..prompts.vocabulary import MODALITIES, MODALITY_WORDS
from ..prompts.vocabulary import SEX_NOUNS as SEX_WORDS

if TYPE_CHECKING:
    import torch

__all__ = [
    "MODALITIES", "MODALITY_WORDS", "SEX_WORDS", "BrainGenError", "BundleError", "Grid", "InvalidInputError",
    "OutputExistsError", "atomic_directory", "atomic_write_text", "bundle_grid", "bundle_intensity_percentiles",
    "default_bundle_path", "facts_from_prompt", "load_autoencoder", "load_generator", "ms_ssim", "read_volume",
    "refuse_existing", "remove_stale_partials", "robust_normalise", "ssim", "write_generated_volume",
]


def default_bundle_path() -> Path:
    """The bundle used when ``--bundle`` is not given."""
    from ..bundle import default_bundle_path as _default

    return Path(_default())


def _config(bundle: Path):
    from ..bundle import read_config

    return read_config(Path(bundle))


def bundle_grid(bundle: Path) -> Grid:
    """The voxel grid of ``bundle`` (reads config.json only; raises ``BundleError`` if it cannot)."""
    return _config(bundle).grid


def bundle_intensity_percentiles(bundle: Path) -> tuple[float, float]:
    """The percentiles the bundle's training images were normalised with."""
    low, high = _config(bundle).intensity.get("percentiles", (0.5, 99.5))
    return float(low), float(high)


def bundle_identity(bundle: Path) -> dict[str, str]:
    """``bundle_id`` and ``version`` of the bundle."""
    config = _config(bundle)
    return {"bundle_id": config.bundle_id, "version": config.version, "path": str(bundle)}


def load_generator(bundle: Path, device: str = "auto") -> Any:
    """A text-to-volume pipeline: ``pipeline(prompt, negative, steps, guidance, sampler, seed)`` returns
    an output whose ``volumes[0]`` has ``array``, ``affine`` and ``provenance``."""
    from ..pipelines.generation import BrainGenPipeline

    return BrainGenPipeline.from_bundle(bundle, device)


def load_autoencoder(bundle: Path) -> tuple["torch.nn.Module", float]:
    """The bundle's autoencoder (eval mode, CPU) and its latent scale factor; raises ``BundleError``."""
    from ..bundle import load_bundle

    loaded = load_bundle(bundle)
    return loaded.autoencoder, float(loaded.config.scale_factor)


def sampling_defaults(bundle: Path) -> dict[str, Any]:
    """The bundle's ``sampling_defaults`` (sampler, steps, guidance_scale)."""
    return dict(_config(bundle).sampling_defaults)


def read_volume(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A float32 (i, j, k) array and its RAS affine from .nii, .nii.gz or .nrrd."""
    from ..io.reader import read_volume as _read

    return _read(path)


def robust_normalise(array: np.ndarray, percentiles: tuple[float, float], mask: np.ndarray | None = None) -> np.ndarray:
    from ..core.intensity import robust_normalise as _normalise

    return _normalise(array, percentiles, mask)


def ssim(reference: np.ndarray, test: np.ndarray, mask: np.ndarray | None = None) -> float:
    """3D SSIM on the [0, 1] scale, averaged over window centres inside ``mask``."""
    from ..metrics import ssim as _ssim

    return _ssim(reference, test, mask)


def ms_ssim(first: np.ndarray, second: np.ndarray) -> float:
    """Three-scale MS-SSIM on the [0, 1] scale."""
    from ..metrics import ms_ssim as _ms_ssim

    return _ms_ssim(first, second)


def write_generated_volume(volume: Any, path: Path) -> None:
    """Write a generated volume (NIfTI with provenance) and its JSON sidecar, without a preview."""
    from ..io.writer import write_volume

    write_volume(volume, path, overwrite=False, preview=False)
