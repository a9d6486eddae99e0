"""The pooled-text U-Net: starts as the plain MONAI U-Net, then follows the prompt's mean token state."""

from __future__ import annotations

import pytest
import torch
from monai.networks.nets import DiffusionModelUNet

from braingen3d.bundle.presets import preset_config
from braingen3d.models.builders import build_unet
from braingen3d.models.pooled_text_unet import POOLED_TEXT_FLAG, PooledTextDiffusionUNet

KWARGS = {"in_channels": 2, "out_channels": 2, "channels": [8, 8], "num_res_blocks": 1, "attention_levels": [False, True],
          "num_head_channels": [0, 8], "norm_num_groups": 4, "with_conditioning": True, "cross_attention_dim": 6}


def _inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 2, 8, 8, 8, generator=generator)
    context = torch.randn(2, 5, 6, generator=generator)
    return x, torch.tensor([10, 500]), context


def _with_live_output(network: torch.nn.Module) -> torch.nn.Module:
    """MONAI zero-initialises the output and every residual block's last convolution (each block
    starts as the identity); give them weights so that outputs depend on the embedding at all."""
    for name, parameter in network.named_parameters():
        if not name.startswith("pooled_text_embed.") and not parameter.detach().any():
            torch.nn.init.normal_(parameter, std=0.2)
    return network


def test_build_unet_selects_the_network_by_the_bundle_flag() -> None:
    assert type(build_unet(KWARGS)) is DiffusionModelUNet
    assert type(build_unet({**KWARGS, POOLED_TEXT_FLAG: False})) is DiffusionModelUNet
    assert isinstance(build_unet({**KWARGS, POOLED_TEXT_FLAG: True}), PooledTextDiffusionUNet)
    # Off in the presets (it measured worse on the default bundle; training/README.md), opt-in per config.
    assert POOLED_TEXT_FLAG not in preset_config("small").unet


def test_a_new_network_predicts_what_the_plain_unet_with_its_weights_predicts() -> None:
    torch.manual_seed(0)
    pooled = _with_live_output(build_unet({**KWARGS, POOLED_TEXT_FLAG: True}, flash_attention=False)).eval()
    plain = build_unet(KWARGS, flash_attention=False).eval()
    missing, unexpected = plain.load_state_dict(pooled.state_dict(), strict=False)
    assert not missing and all(key.startswith("pooled_text_embed.") for key in unexpected)
    x, t, context = _inputs()
    with torch.no_grad():
        prediction = pooled(x, t, context)
        assert prediction.abs().max() > 1e-3
        torch.testing.assert_close(prediction, plain(x, t, context), rtol=0, atol=0)


def test_trained_pooled_branch_makes_the_output_follow_the_mean_token_state() -> None:
    torch.manual_seed(0)
    network = _with_live_output(PooledTextDiffusionUNet(spatial_dims=3, use_flash_attention=False, **KWARGS)).eval()
    torch.nn.init.normal_(network.pooled_text_embed[-1].weight, std=0.5)
    # Cross-attention off the path: same tokens in another order give the same attention output
    # (attention is permutation-invariant over the context) and the same mean; another mean changes it.
    x, t, context = _inputs()
    permuted = context[:, torch.randperm(context.shape[1])]
    shifted = context + 0.5
    with torch.no_grad():
        base = network(x, t, context)
        torch.testing.assert_close(network(x, t, permuted), base, rtol=1e-5, atol=1e-5)
        assert (network(x, t, shifted) - base).abs().max() > 1e-3
        plain_weights = DiffusionModelUNet(spatial_dims=3, use_flash_attention=False, **KWARGS).eval()
        plain_weights.load_state_dict(network.state_dict(), strict=False)
        assert (plain_weights(x, t, context) - base).abs().max() > 1e-3
    assert network._pooled_text is None  # nothing left behind between calls


def test_gradients_reach_the_pooled_branch() -> None:
    network = _with_live_output(PooledTextDiffusionUNet(spatial_dims=3, use_flash_attention=False, **KWARGS))
    x, t, context = _inputs()
    network(x, t, context).square().mean().backward()
    assert network.pooled_text_embed[-1].weight.grad.abs().sum() > 0


def test_refuses_a_unet_without_text_context() -> None:
    with pytest.raises(ValueError, match="with_conditioning"):
        PooledTextDiffusionUNet(spatial_dims=3, **{**KWARGS, "with_conditioning": False, "cross_attention_dim": None})
