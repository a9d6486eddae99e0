"""Fixtures for inpainting tests: phantom files and tiny random bundles (they never make brains)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from Testing.inpaint.inpaint_phantoms import Case, save_nifti


@pytest.fixture
def case_files(tmp_path):
    """Write a phantom case as NIfTI files; returns (volume path, mask path, case)."""

    def write(case: Case, folder: Path | None = None) -> tuple[Path, Path, Case]:
        folder = folder or tmp_path
        return (save_nifti(folder / "volume.nii.gz", case.volume, case.affine),
                save_nifti(folder / "mask.nii.gz", case.mask, case.affine), case)

    return write


@pytest.fixture(scope="session")
def inpainter(tiny_pipeline):
    from braingen3d.pipelines.inpaint import LesionInpainter

    return LesionInpainter(tiny_pipeline)


def _randomise_zero_weights(module: torch.nn.Module) -> None:
    # MONAI zero-initialises output projections; random test weights must respond to every input channel.
    with torch.no_grad():
        for parameter in module.parameters():
            if parameter.ndim > 1 and not parameter.any():
                parameter.normal_(0.0, 0.05)


@pytest.fixture(scope="session")
def unet_bundle(tmp_path_factory) -> Path:
    """A tiny random bundle offering both methods: its inpaint_unet takes 2 * latent + 1 channels."""
    from braingen3d.bundle import preset_config, save_bundle
    from braingen3d.models.builders import build_autoencoder, build_unet

    config = preset_config("tiny", bundle_id="random-tiny-inpaint", capabilities={
        "text": True, "inpaint": ["repaint", "inpaint_unet"], "controlnet": False})
    latent = int(config.autoencoder["latent_channels"])
    config.inpaint_unet = dict(config.unet, in_channels=2 * latent + 1)
    torch.manual_seed(1)
    unet, inpaint_unet = build_unet(config.unet), build_unet(config.inpaint_unet)
    for net in (unet, inpaint_unet):
        _randomise_zero_weights(net)
    return save_bundle(tmp_path_factory.mktemp("bundles") / "tiny_inpaint", config,
                       build_autoencoder(config.autoencoder_kwargs), unet, "# random tiny inpainting bundle\n",
                       inpaint_unet=inpaint_unet)


@pytest.fixture(scope="session")
def unet_inpainter(unet_bundle):
    from braingen3d.pipelines.inpaint import LesionInpainter

    return LesionInpainter.from_bundle(unet_bundle, device="cpu")


@pytest.fixture(scope="session")
def no_inpaint_bundle(tmp_path_factory) -> Path:
    """A tiny random bundle that declares no inpainting method."""
    from braingen3d.bundle import make_random_bundle, preset_config

    config = preset_config("tiny", bundle_id="random-tiny-noinpaint",
                           capabilities={"text": True, "inpaint": [], "controlnet": False})
    return make_random_bundle(tmp_path_factory.mktemp("bundles") / "tiny_noinpaint", config=config)
