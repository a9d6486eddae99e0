"""Prompt attributes: parsed from the prompt, given to the U-Net beside the text tokens, added to its timestep embedding."""

from __future__ import annotations

import copy

import pytest
import torch
from monai.networks.nets import DiffusionModelUNet

from braingen3d.bundle.config import BundleConfig
from braingen3d.bundle.presets import preset_config
from braingen3d.core.errors import BundleError, InvalidInputError
from braingen3d.models.builders import build_unet
from braingen3d.prompts.attributes import (
    ALL_ATTRIBUTE_FEATURES,
    ATTRIBUTE_FEATURES,
    LESION_ATTRIBUTES_FLAG,
    PROMPT_ATTRIBUTES_FLAG,
    prompt_attribute_vector,
    prompt_attribute_vectors,
)
from braingen3d.prompts.parser import LesionFinding, lesion_finding
from braingen3d.prompts.text_encoder import PromptConditioning, TextEncoder

KWARGS = {"in_channels": 2, "out_channels": 2, "channels": [8, 8], "num_res_blocks": 1, "attention_levels": [False, True],
          "num_head_channels": [0, 8], "norm_num_groups": 4, "with_conditioning": True, "cross_attention_dim": 16}


def _with_live_weights(network: torch.nn.Module) -> torch.nn.Module:
    """MONAI zero-initialises its output and each residual block's last convolution; without weights there
    the output does not depend on the timestep embedding at all."""
    for name, parameter in network.named_parameters():
        if not name.startswith("attribute_embedding.") and not parameter.detach().any():
            torch.nn.init.normal_(parameter, std=0.2)
    return network


def _inputs(prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Latents, timesteps and the U-Net's conditioning keywords (the same text tokens for any prompts)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(len(prompts), 2, 8, 8, 8, generator=generator)
    text = torch.randn(len(prompts), 5, 16, generator=generator)
    return x, torch.tensor([10, 500][: len(prompts)]), {"context": text, "attributes": prompt_attribute_vectors(prompts)}


def test_the_vector_holds_what_the_prompt_names() -> None:
    vector = prompt_attribute_vector("T2-weighted MRI of a 75-year-old woman with enlarged ventricles")
    torch.testing.assert_close(vector, torch.tensor([0, 1, 0, 0, 1, 1.0, 1, 0, 0, 1.0, 0, 0, 0]))
    vector = prompt_attribute_vector("FLAIR brain MRI, 35 years old man, normal ventricles")
    torch.testing.assert_close(vector, torch.tensor([0, 0, 1, 0, 1, -1.0, 0, 1, 1, 0.0, 0, 0, 0]))
    assert not prompt_attribute_vector("").any()  # the unconditional branch has no attributes
    assert not prompt_attribute_vector("a brain").any()
    assert prompt_attribute_vector("T1 MRI of a 120-year-old man")[5] == 3.0  # clipped
    with pytest.raises(InvalidInputError, match="both enlarged and normal"):
        prompt_attribute_vector("T1 MRI with enlarged ventricles and normal ventricles")


def test_the_vectors_come_beside_the_text_states() -> None:
    vectors = prompt_attribute_vectors(["PD MRI", ""])
    assert vectors.shape == (2, ALL_ATTRIBUTE_FEATURES)
    torch.testing.assert_close(vectors[0], prompt_attribute_vector("PD MRI"))
    assert not vectors[0, ATTRIBUTE_FEATURES:].any() and not vectors[1].any()  # the empty prompt: all zeros
    text = torch.randn(2, 5, 16)
    both = PromptConditioning(text, vectors).repeat_row(1, 3)
    assert both.context.shape == (3, 5, 16) and both.attributes.shape == (3, ALL_ATTRIBUTE_FEATURES)
    assert set(PromptConditioning(text).unet_kwargs()) == {"context"}  # a U-Net without attributes gets none


def test_a_new_network_predicts_what_the_plain_unet_predicts_from_the_text_tokens() -> None:
    torch.manual_seed(0)
    network = _with_live_weights(build_unet({**KWARGS, PROMPT_ATTRIBUTES_FLAG: True}, flash_attention=False)).eval()
    plain = DiffusionModelUNet(spatial_dims=3, use_flash_attention=False, **KWARGS).eval()
    missing, unexpected = plain.load_state_dict(network.state_dict(), strict=False)
    assert not missing and unexpected and all(key.startswith("attribute_embedding.") for key in unexpected)
    x, t, conditioning = _inputs(["T1 MRI of a 30-year-old man", "T2 MRI of an 80-year-old woman"])
    with torch.no_grad():
        prediction = network(x, t, **conditioning)
        assert prediction.abs().max() > 1e-3
        torch.testing.assert_close(prediction, plain(x, t, conditioning["context"]), rtol=0, atol=0)


def test_a_trained_branch_follows_the_attributes_only() -> None:
    torch.manual_seed(0)
    network = _with_live_weights(build_unet({**KWARGS, PROMPT_ATTRIBUTES_FLAG: True}, flash_attention=False)).eval()
    torch.nn.init.normal_(network.attribute_embedding.mlp[-1].weight, std=0.5)
    x, t, t1 = _inputs(["T1 MRI", "T1 MRI"])
    _, _, t2 = _inputs(["T2 MRI", "T2 MRI"])
    with torch.no_grad():
        base = network(x, t, **t1)
        assert (network(x, t, **t2) - base).abs().max() > 1e-3  # same text tokens, other attributes
        padded = dict(t1, attributes=t1["attributes"].clone())
        padded["attributes"][:, ATTRIBUTE_FEATURES:] = 5.0  # the vector's other entries are not read
        torch.testing.assert_close(network(x, t, **padded), base, rtol=0, atol=0)
    network(x, t, **t2).square().mean().backward()
    assert network.attribute_embedding.mlp[-1].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("prompt, finding", [
    ("a 10 mm white-matter hyperintensity", LesionFinding(True, False, 10.0)),
    ("A 12-mm FLAIR hyperintense lesion", LesionFinding(True, False, 12.0)),
    ("multiple white-matter lesions", LesionFinding(True, False, None)),
    ("1 mm isotropic T1 MRI with a white-matter lesion", LesionFinding(True, False, None)),
    ("a black hole", LesionFinding(True, False, None)),
    ("no lesions", LesionFinding(False, True, None)),
    ("T2 MRI without white-matter lesions", LesionFinding(False, True, None)),
    ("T1 MRI of a 40-year-old man", LesionFinding(False, False, None)),
    ("", LesionFinding(False, False, None)),
])
def test_lesion_wording_is_read_from_the_prompt(prompt: str, finding: LesionFinding) -> None:
    assert lesion_finding(prompt) == finding


def test_the_lesion_features_follow_the_other_attributes() -> None:
    vector = prompt_attribute_vector("a 10 mm white-matter hyperintensity")
    assert vector.shape == (ALL_ATTRIBUTE_FEATURES,) and not vector[:ATTRIBUTE_FEATURES].any()
    assert vector[ATTRIBUTE_FEATURES:].tolist() == [1.0, 0.0, 1.0]  # wanted, not unwanted, 1 cm
    assert prompt_attribute_vector("no lesions")[ATTRIBUTE_FEATURES:].tolist() == [0.0, 1.0, 0.0]
    assert prompt_attribute_vector("a 90 mm lesion")[-1] == 5.0  # clipped


def test_only_a_lesion_attribute_unet_reads_the_lesion_features() -> None:
    torch.manual_seed(0)
    plain = _with_live_weights(build_unet({**KWARGS, PROMPT_ATTRIBUTES_FLAG: True}, flash_attention=False)).eval()
    lesions = build_unet({**KWARGS, PROMPT_ATTRIBUTES_FLAG: True, LESION_ATTRIBUTES_FLAG: True},
                         flash_attention=False).eval()
    assert lesions.attribute_embedding.mlp[0].in_features == ALL_ATTRIBUTE_FEATURES
    lesions.load_state_dict({**plain.state_dict(), "attribute_embedding.mlp.0.weight": torch.cat(
        [plain.attribute_embedding.mlp[0].weight, torch.ones(8 * 4, 3)], dim=1)})
    torch.nn.init.normal_(plain.attribute_embedding.mlp[-1].weight, std=0.5)
    torch.nn.init.normal_(lesions.attribute_embedding.mlp[-1].weight, std=0.5)
    x, t, none = _inputs(["T2 MRI", "T2 MRI"])
    _, _, wanted = _inputs(["T2 MRI, a white-matter lesion", "T2 MRI, a white-matter lesion"])
    torch.testing.assert_close(none["context"], wanted["context"])  # same text tokens: only the attributes differ
    with torch.no_grad():
        torch.testing.assert_close(plain(x, t, **wanted), plain(x, t, **none), rtol=0, atol=0)
        assert (lesions(x, t, **wanted) - lesions(x, t, **none)).abs().max() > 1e-3


def test_lesion_attributes_need_prompt_attributes() -> None:
    with pytest.raises(ValueError, match="lesion_attributes"):
        build_unet({**KWARGS, LESION_ATTRIBUTES_FLAG: True}, flash_attention=False)
    data = preset_config("small").to_dict()
    data["inpaint_unet"] = {**data["unet"], LESION_ATTRIBUTES_FLAG: True}
    with pytest.raises(BundleError, match="lesion_attributes"):
        BundleConfig.from_dict(data).check_consistency()


def test_a_deep_copy_reads_its_own_attributes_and_weights() -> None:
    # The trainers' EMA is a deep copy of the U-Net: it must use its own weights and its own batch.
    torch.manual_seed(0)
    network = _with_live_weights(build_unet({**KWARGS, PROMPT_ATTRIBUTES_FLAG: True}, flash_attention=False)).eval()
    copy_ = copy.deepcopy(network)
    torch.nn.init.normal_(copy_.attribute_embedding.mlp[-1].weight, std=0.5)
    x, t, conditioning = _inputs(["T1 MRI", "T2 MRI"])
    doubled = {key: torch.cat([value, value]) for key, value in conditioning.items()}
    with torch.no_grad():
        network(torch.cat([x, x]), torch.cat([t, t]), **doubled)  # another batch size first
        copied = copy_(x, t, **conditioning)
        assert copied.shape == x.shape
        assert (copied - network(x, t, **conditioning)).abs().max() > 1e-3  # the copy's own (changed) weights
        torch.nn.init.zeros_(copy_.attribute_embedding.mlp[-1].weight)
        torch.testing.assert_close(copy_(x, t, **conditioning), network(x, t, **conditioning), rtol=0, atol=0)


def test_it_combines_with_channel_preconditioning() -> None:
    # Off in the engine's presets (bundles without the flag load the plain U-Net); training configs switch it on.
    assert not any(PROMPT_ATTRIBUTES_FLAG in preset_config(name).unet for name in ("small_kl", "small"))
    schedule = preset_config("tiny").noise_scheduler
    kwargs = {**KWARGS, PROMPT_ATTRIBUTES_FLAG: True,
              "channel_preconditioning": {"second_moment": [1.0, 0.01], "noise_scheduler": schedule}}
    network = _with_live_weights(build_unet(kwargs, flash_attention=False)).eval()
    assert network.preconditioned
    torch.nn.init.normal_(network.attribute_embedding.mlp[-1].weight, std=0.5)
    x, t, t1 = _inputs(["T1 MRI", "T1 MRI"])
    _, _, pd = _inputs(["PD MRI", "PD MRI"])
    with torch.no_grad():
        assert (network(x, t, **t1) - network(x, t, **pd)).abs().max() > 1e-3


def test_a_context_without_the_attributes_is_refused() -> None:
    network = build_unet({**KWARGS, PROMPT_ATTRIBUTES_FLAG: True}, flash_attention=False)
    with pytest.raises(ValueError, match="prompt_attributes: true"):
        network(torch.randn(1, 2, 8, 8, 8), torch.tensor([1]), torch.randn(1, 1, 16))
    with pytest.raises(ValueError, match="reads 10 prompt attributes"):
        network(torch.randn(1, 2, 8, 8, 8), torch.tensor([1]), torch.randn(1, 1, 16), attributes=torch.zeros(1, 4))


def test_the_bundle_config_needs_both_flags_alike() -> None:
    data = preset_config("small").to_dict()
    data["unet"][PROMPT_ATTRIBUTES_FLAG] = True
    with pytest.raises(BundleError, match="prompt_attributes"):
        BundleConfig.from_dict(data).check_consistency()


def test_the_text_encoder_gives_the_attributes_beside_the_tokens() -> None:
    config = {**preset_config("small").text_encoder, "max_tokens": 12, PROMPT_ATTRIBUTES_FLAG: True}
    encoder = TextEncoder.from_config(config)
    conditioning = encoder.conditioning(["T2-weighted MRI of a 72-year-old woman with enlarged ventricles", ""])
    assert conditioning.context.shape == (2, 12, 384)
    torch.testing.assert_close(conditioning.attributes[0],
                               prompt_attribute_vector("T2-weighted MRI of a 72-year-old woman with enlarged ventricles"))
    assert not conditioning.attributes[1].any()
    plain = TextEncoder.from_config({**config, PROMPT_ATTRIBUTES_FLAG: False}).conditioning(["T2-weighted MRI", ""])
    assert plain.context.shape == (2, 12, 384) and plain.attributes is None
