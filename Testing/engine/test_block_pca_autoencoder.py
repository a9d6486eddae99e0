"""The block-PCA autoencoder: its fixed encoder is the block projection (orthonormal up to one common factor),
its decoder starts at the linear reconstruction, and bundles load it from ``kind: "block_pca"``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from braingen3d.bundle.weights import load_into, save_weights
from braingen3d.models.block_pca_autoencoder import BlockPCAAutoencoder, BlockPCAFitError, training_blocks
from braingen3d.models.builders import build_autoencoder

KWARGS = {"channels": (8, 8, 8), "num_res_blocks": 1, "norm_num_groups": 4, "attention_levels": (False, False, False)}


def _volumes(count: int = 4, size: int = 16, seed: int = 0) -> list[np.ndarray]:
    """Smooth random volumes with a zero border (background blocks)."""
    rng = np.random.default_rng(seed)
    volumes = []
    for _ in range(count):
        noise = torch.from_numpy(rng.random((1, 1, size, size, size), dtype=np.float32))
        smooth = torch.nn.functional.avg_pool3d(noise, 3, stride=1, padding=1)[0, 0].numpy()
        smooth[:4], smooth[:, :4] = 0.0, 0.0
        volumes.append(smooth)
    return volumes


def _fitted(latent_channels: int, volumes: list[np.ndarray]) -> BlockPCAAutoencoder:
    autoencoder = BlockPCAAutoencoder(latent_channels=latent_channels, **KWARGS).eval()
    autoencoder.fit_basis(training_blocks(autoencoder, volumes))
    return autoencoder


def _least_squares_projection(volume: np.ndarray, training: list[np.ndarray], k: int) -> np.ndarray:
    """Reference: the rank-k uncentred PCA reconstruction of each 4x4x4 block, with numpy's SVD."""
    def blocks(v: np.ndarray) -> np.ndarray:
        return v.reshape(4, 4, 4, 4, 4, 4).transpose(0, 2, 4, 1, 3, 5).reshape(-1, 64)

    data = np.concatenate([blocks(v) for v in training]).astype(np.float64)
    data = data[np.abs(data).sum(1) > 0]
    _, _, vt = np.linalg.svd(data, full_matrices=False)
    rows = blocks(volume) @ vt[:k].T @ vt[:k]
    return rows.reshape(4, 4, 4, 4, 4, 4).transpose(0, 3, 1, 4, 2, 5).reshape(16, 16, 16)


def test_untrained_decoder_gives_the_least_squares_block_reconstruction() -> None:
    training = _volumes()
    autoencoder = _fitted(8, training)
    held_out = _volumes(1, seed=7)[0]
    with torch.no_grad():
        reconstruction = autoencoder.reconstruct(torch.from_numpy(held_out)[None, None])[0, 0].numpy()
    expected = _least_squares_projection(held_out, training, 8)
    np.testing.assert_allclose(reconstruction, expected, atol=1e-5)
    # A rank-8 projection of 64-value blocks is not the identity: the test would notice a no-op.
    assert np.abs(reconstruction - held_out).max() > 1e-3


def test_full_basis_reconstructs_exactly_and_background_stays_zero() -> None:
    autoencoder = _fitted(64, _volumes())
    x = torch.from_numpy(_volumes(1, seed=3)[0])[None, None]
    with torch.no_grad():
        z_mu, z_sigma = autoencoder.encode(x)
        assert torch.allclose(autoencoder.decode(z_mu), x, atol=1e-5)
        zero = autoencoder.encode(torch.zeros_like(x))[0]
        assert torch.count_nonzero(zero) == 0 and torch.count_nonzero(autoencoder.decode(zero)) == 0
    assert z_mu.shape == (1, 64, 4, 4, 4)
    assert torch.allclose(z_sigma, torch.full_like(z_sigma, float(np.exp(-4.0))))


def test_the_latent_keeps_the_energy_spectrum_under_one_common_factor() -> None:
    volumes = _volumes()
    autoencoder = _fitted(6, volumes)
    blocks = training_blocks(autoencoder, volumes)
    with torch.no_grad():
        latents = torch.cat([autoencoder.encode(torch.from_numpy(v)[None, None])[0] for v in volumes])
    per_channel = (latents.permute(1, 0, 2, 3, 4).reshape(6, -1) ** 2).sum(1) / len(blocks)
    # One factor for all channels: the mean second moment is 1, the leading direction carries the most.
    assert torch.unique(autoencoder.channel_scale).numel() == 1
    assert float(per_channel.mean()) == pytest.approx(1.0, rel=1e-4)
    assert bool((per_channel[:-1] >= per_channel[1:]).all()) and float(per_channel[0] / per_channel[-1]) > 10
    # Orthonormal up to that factor: a latent step of size e moves the linear reconstruction by e * factor.
    step = torch.zeros(1, 6, 4, 4, 4)
    step[0, 5, 1, 1, 1] = 1.0
    with torch.no_grad():
        moved = autoencoder.decode(step)
    assert float(moved.norm()) == pytest.approx(float(autoencoder.channel_scale[0]), rel=1e-5)


def test_channel_whitening_gives_unit_channels_and_the_same_decode() -> None:
    """Whitened channels each have unit second moment; the basis and, for the same image, the decode (linear
    path and correction) are those of the common-spread latent, so one trained correction serves both."""
    volumes = _volumes()
    common = _fitted(6, volumes)
    whitened = BlockPCAAutoencoder(latent_channels=6, channel_whitening=True, **KWARGS).eval()
    blocks = training_blocks(whitened, volumes)
    whitened.fit_basis(blocks)
    assert torch.equal(whitened.block_basis, common.block_basis)
    torch.manual_seed(0)
    for parameter in common.decoder.parameters():  # a non-zero correction, shared by both
        parameter.data.normal_(0.0, 0.05)
    whitened.load_state_dict({**common.state_dict(), "channel_scale": whitened.channel_scale})
    x = torch.from_numpy(volumes[0])[None, None]
    with torch.no_grad():
        latents = torch.cat([whitened.encode(torch.from_numpy(v)[None, None])[0] for v in volumes])
        per_channel = (latents.permute(1, 0, 2, 3, 4).reshape(6, -1) ** 2).sum(1) / len(blocks)
        np.testing.assert_allclose(per_channel.numpy(), np.ones(6), rtol=1e-4)
        np.testing.assert_allclose(whitened.decode(whitened.encode(x)[0]).numpy(),
                                   common.decode(common.encode(x)[0]).numpy(), atol=1e-5)
    with pytest.raises(AssertionError):  # the correction does notice the scaling: the test can fail
        with torch.no_grad():
            np.testing.assert_allclose(common.decode(whitened.encode(x)[0]).numpy(),
                                       common.decode(common.encode(x)[0]).numpy(), atol=1e-5)


def test_refitting_gives_identical_weights() -> None:
    volumes = _volumes()
    assert torch.equal(_fitted(8, volumes).block_basis, _fitted(8, volumes).block_basis)


def test_bad_fits_and_shapes_are_refused() -> None:
    autoencoder = BlockPCAAutoencoder(latent_channels=8, **KWARGS)
    with pytest.raises(BlockPCAFitError, match="cannot define 8 directions"):
        autoencoder.fit_basis(torch.ones(3, 64))
    with pytest.raises(BlockPCAFitError, match="carry energy"):
        autoencoder.fit_basis(torch.ones(100, 64))
    with pytest.raises(BlockPCAFitError, match="have 27 values"):
        autoencoder.fit_basis(torch.ones(100, 27))
    with pytest.raises(ValueError, match="multiple of the 4-voxel block"):
        autoencoder.encode(torch.zeros(1, 1, 16, 16, 18))
    with pytest.raises(ValueError, match="between 1 and the 64 values"):
        BlockPCAAutoencoder(latent_channels=65, **KWARGS)


def test_bundle_kind_builds_it_and_weights_round_trip(tmp_path) -> None:
    autoencoder = _fitted(8, _volumes())
    built = build_autoencoder({"kind": "block_pca", "latent_channels": 8, **KWARGS})
    assert isinstance(built, BlockPCAAutoencoder)
    # "whiten" is an earlier whitening (its decoder read the whitened latent): false is accepted, true refused.
    assert isinstance(build_autoencoder({"kind": "block_pca", "latent_channels": 8, "whiten": False, **KWARGS}),
                      BlockPCAAutoencoder)
    with pytest.raises(ValueError, match="'whiten: true'"):
        build_autoencoder({"kind": "block_pca", "latent_channels": 8, "whiten": True, **KWARGS})
    save_weights(autoencoder.state_dict(), tmp_path / "autoencoder.safetensors")
    from safetensors.torch import load_file

    load_into(built, load_file(str(tmp_path / "autoencoder.safetensors")), "autoencoder", "autoencoder.safetensors")
    assert torch.equal(built.block_basis, autoencoder.block_basis)
    assert torch.equal(built.channel_scale, autoencoder.channel_scale)
    with pytest.raises(ValueError, match="Unknown autoencoder kind 'vq'"):
        build_autoencoder({"kind": "vq", **KWARGS})
