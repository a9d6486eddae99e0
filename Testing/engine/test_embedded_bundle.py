"""The embedded default bundle: it loads, its card matches its config, it fits the size limit and it makes a brain."""

from __future__ import annotations

import numpy as np
import pytest

from braingen3d.bundle import load_bundle
from braingen3d.bundle.locations import embedded_bundle_path

MAX_BUNDLE_BYTES = 50 * 1024 * 1024


@pytest.fixture(scope="module")
def embedded():
    return load_bundle(embedded_bundle_path())


def test_embedded_bundle_fits_the_size_limit() -> None:
    size = sum(path.stat().st_size for path in embedded_bundle_path().iterdir() if path.is_file())
    assert size <= MAX_BUNDLE_BYTES


def test_card_names_the_bundle_its_data_and_its_measured_quality(embedded) -> None:
    config, card = embedded.config, embedded.card
    assert card.startswith(f"# {config.name} ({config.bundle_id} {config.version})")
    assert "not of real patients" in card and "**synthetic**" in card
    for section in ("## Training", "## Measured quality", "## Measured inpainting quality"):
        assert section in card
    assert "Not yet measured" not in card


def test_embedded_bundle_declares_what_it_ships(embedded) -> None:
    capabilities = embedded.config.capabilities
    assert capabilities["text"] and "inpaint_unet" in capabilities["inpaint"]
    assert embedded.inpaint_unet is not None and embedded.structure_regressor is not None
    assert embedded.config.grid.shape == (80, 96, 80)


@pytest.mark.slow
def test_embedded_bundle_generates_a_brain_inside_the_head_region() -> None:
    from braingen3d.pipelines.generation import BrainGenPipeline

    pipeline = BrainGenPipeline.from_bundle(None, "cpu")
    volume = pipeline("T2-weighted MRI of a 72-year-old woman with enlarged ventricles", num_inference_steps=10,
                      seed=7).volumes[0]
    array = volume.array
    assert array.shape == (80, 96, 80) and np.isfinite(array).all() and 0 <= array.min() <= array.max() <= 1
    # A brain, not noise: the MNI brain's centre is bright tissue, the grid's corners are background. The
    # block-PCA bundle leaves a haze of block noise there (corner mean 0.16 for this T2 prompt, 0.04-0.09 for
    # the other contrasts), so the corners need only be far darker than the centre; a sample of noise has both
    # alike.
    centre = array[30:50, 40:60, 30:50]
    corners = np.concatenate([array[:8, :8, :8].ravel(), array[-8:, -8:, -8:].ravel()])
    assert (centre > 0.05).mean() > 0.9 and corners.mean() < 0.5 * centre.mean()
    assert volume.provenance["bundle_id"] == pipeline.config.bundle_id
