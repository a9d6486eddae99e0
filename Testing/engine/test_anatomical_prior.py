"""Anatomical prior: template maps scaled by the prompt's attributes, added after the U-Net's first convolution."""

from __future__ import annotations

import copy

import pytest
import torch

from braingen3d.bundle.presets import preset_config
from braingen3d.core.errors import BundleError
from braingen3d.models.builders import build_unet
from braingen3d.prompts.attributes import prompt_attribute_vectors

KWARGS = {"in_channels": 2, "out_channels": 2, "channels": [8, 8], "num_res_blocks": 1, "attention_levels": [False, True],
          "num_head_channels": [0, 8], "norm_num_groups": 4, "with_conditioning": True, "cross_attention_dim": 16,
          "prompt_attributes": True}
PRIOR = {"structures": ["ventricles"], "shape": [8, 8, 8]}


def _live(network: torch.nn.Module) -> torch.nn.Module:
    """Weights everywhere MONAI starts at zero, so the output depends on every input."""
    torch.manual_seed(0)
    for parameter in network.parameters():
        if not parameter.detach().any():
            torch.nn.init.normal_(parameter, std=0.2)
    return network


def _centre_map() -> torch.Tensor:
    maps = torch.zeros(1, 8, 8, 8)
    maps[0, 3:5, 3:5, 3:5] = 1.0
    return maps


def _run(network: torch.nn.Module, prompts: list[str]) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(1, 2, 8, 8, 8, generator=generator).expand(len(prompts), -1, -1, -1, -1)
    text = torch.randn(1, 5, 16, generator=generator).expand(len(prompts), -1, -1)
    with torch.no_grad():
        return network(x, torch.full((len(prompts),), 300), context=text, attributes=prompt_attribute_vectors(prompts))


@pytest.mark.slow
def test_a_fresh_prior_leaves_the_u_net_unchanged() -> None:
    plain = _live(build_unet(KWARGS))
    with_prior = build_unet({**KWARGS, "anatomical_prior": PRIOR})
    missing, unexpected = with_prior.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all(key.startswith("anatomical_prior.") for key in missing) and len(missing) == 3
    with_prior.anatomical_prior.maps.copy_(_centre_map())
    prompts = ["T1 MRI of a 25-year-old man", "T1 MRI of a 85-year-old man"]
    # The projection starts at zero: fine-tuning from a U-Net without the prior starts where it left off.
    torch.testing.assert_close(_run(with_prior, prompts), _run(plain, prompts))


@pytest.mark.slow
def test_the_attributes_act_through_the_maps() -> None:
    network = _live(build_unet({**KWARGS, "anatomical_prior": PRIOR}))
    prior = network.anatomical_prior
    young, old = "T1 MRI of a 25-year-old man", "T1 MRI of a 85-year-old man"
    # Without the attribute MLP, only the prior carries the age.
    torch.nn.init.zeros_(network.attribute_embedding.mlp[-1].weight)
    torch.nn.init.zeros_(network.attribute_embedding.mlp[-1].bias)
    assert torch.equal(*_run(network, [young, old]))  # maps still zero
    prior.maps.copy_(_centre_map())
    outputs = _run(network, [young, old])
    assert not torch.allclose(outputs[0], outputs[1])


@pytest.mark.slow
def test_the_maps_travel_in_the_weights_and_copies_are_independent() -> None:
    network = _live(build_unet({**KWARGS, "anatomical_prior": PRIOR}))
    network.anatomical_prior.maps.copy_(_centre_map())
    state = network.state_dict()
    assert torch.equal(state["anatomical_prior.maps"], _centre_map())
    rebuilt = build_unet({**KWARGS, "anatomical_prior": PRIOR})
    rebuilt.load_state_dict(state, strict=True)
    prompts = ["PD MRI of a 70-year-old woman"]
    torch.testing.assert_close(_run(rebuilt, prompts), _run(network, prompts))
    shadow = copy.deepcopy(network)  # an EMA copy uses its own prior
    shadow.anatomical_prior.maps.zero_()
    assert not torch.allclose(_run(shadow, prompts), _run(network, prompts))
    torch.testing.assert_close(_run(rebuilt, prompts), _run(network, prompts))


def test_a_wrong_grid_or_missing_attributes_is_refused() -> None:
    network = build_unet({**KWARGS, "anatomical_prior": {"structures": ["ventricles"], "shape": [4, 4, 4]}})
    with pytest.raises(ValueError, match="bundle's grid"):
        _run(network, ["T1 MRI"])
    with pytest.raises(ValueError, match="prompt_attributes: true"):
        build_unet({**KWARGS, "prompt_attributes": False, "anatomical_prior": PRIOR})
    with pytest.raises(ValueError, match="latent 'shape'"):
        build_unet({**KWARGS, "anatomical_prior": {"structures": ["ventricles"]}})


def test_the_bundle_config_refuses_a_prior_without_attributes() -> None:
    config = preset_config("tiny")
    config.unet["anatomical_prior"] = PRIOR
    with pytest.raises(BundleError, match="unet.anatomical_prior' needs 'unet.prompt_attributes: true'"):
        config.check_consistency()
