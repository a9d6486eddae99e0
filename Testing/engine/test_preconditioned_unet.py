"""The per-channel preconditioned U-Net: a plain U-Net for unit-variance channels, the best linear (Wiener)
denoiser when its network outputs zero, plain-U-Net weights, and clear refusals."""

from __future__ import annotations

import pytest
import torch
from monai.networks.nets import DiffusionModelUNet

from braingen3d.bundle import preset_config
from braingen3d.models.builders import build_unet
from braingen3d.models.unet import ConditionedDiffusionUNet, schedule_alphas_cumprod

SCHEDULE = preset_config("tiny").noise_scheduler
UNET = {"spatial_dims": 3, "in_channels": 3, "out_channels": 3, "channels": (8, 8), "attention_levels": (False, False),
        "num_res_blocks": 1, "norm_num_groups": 4, "num_head_channels": 8}


def _network(moments, prediction_type: str = "v_prediction", **overrides) -> ConditionedDiffusionUNet:
    torch.manual_seed(0)
    field = {"second_moment": moments, "noise_scheduler": {**SCHEDULE, "prediction_type": prediction_type}}
    return ConditionedDiffusionUNet(channel_preconditioning=field, **{**UNET, **overrides}).eval()


def _silence(network: DiffusionModelUNet) -> None:
    """Zero the last convolution, so the network's residual is exactly 0."""
    torch.nn.init.zeros_(network.out[-1].conv.weight)
    torch.nn.init.zeros_(network.out[-1].conv.bias)


def test_unit_variance_channels_give_the_plain_unet() -> None:
    network = _network([1.0, 1.0, 1.0])
    plain = DiffusionModelUNet(**UNET).eval()
    plain.load_state_dict(network.state_dict())  # same keys: bundles store plain U-Net weights
    x, t = torch.randn(2, 3, 8, 8, 8), torch.tensor([3, 700])
    with torch.no_grad():
        torch.testing.assert_close(network(x, t), plain(x, t), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("prediction_type", ["v_prediction", "epsilon"])
def test_a_silent_network_predicts_the_wiener_denoiser(prediction_type: str) -> None:
    moments = torch.tensor([25.0, 1.0, 0.01])
    network = _network(moments.tolist(), prediction_type)
    _silence(network)
    alpha_bar = schedule_alphas_cumprod(SCHEDULE)
    t = torch.tensor([5, 300, 900])
    a, s = alpha_bar[t].sqrt().view(-1, 1, 1, 1, 1), (1 - alpha_bar[t]).sqrt().view(-1, 1, 1, 1, 1)
    m = moments.view(1, -1, 1, 1, 1)
    x0 = torch.randn(3, 3, 6, 6, 6, generator=torch.Generator().manual_seed(1)) * m.sqrt()
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(2))
    x_t = a * x0 + s * noise
    with torch.no_grad():
        prediction = network(x_t, t)
    # Reference, written from the forward process: the Wiener estimate of x0, then the eps or v it implies.
    x0_hat = a * m / (a * a * m + s * s) * x_t
    eps_hat = (x_t - a * x0_hat) / s
    expected = eps_hat if prediction_type == "epsilon" else a * eps_hat - s * x0_hat
    torch.testing.assert_close(prediction, expected, rtol=1e-4, atol=1e-4)


def test_the_wiener_prediction_beats_predicting_zero_on_weak_channels() -> None:
    """Why the skip: on a weak channel the best linear v is far from 0, which a plain U-Net starts from."""
    moment = 0.01
    network = _network([moment, moment, moment])
    _silence(network)
    alpha_bar = schedule_alphas_cumprod(SCHEDULE)
    t = torch.full((4,), 100)
    a, s = float(alpha_bar[100].sqrt()), float((1 - alpha_bar[100]).sqrt())
    x0 = torch.randn(4, 3, 8, 8, 8, generator=torch.Generator().manual_seed(3)) * moment**0.5
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(4))
    v = a * noise - s * x0
    with torch.no_grad():
        wiener = network(a * x0 + s * noise, t)
    wiener_error, zero_error = float((wiener - v).pow(2).mean()), float(v.pow(2).mean())
    # The Wiener error is the posterior variance m / (a^2 m + s^2) (about 0.05 here) against about 1.
    assert wiener_error == pytest.approx(moment / (a * a * moment + s * s), rel=0.1)
    assert wiener_error < 0.1 * zero_error


def test_extra_input_channels_pass_unscaled() -> None:
    network = _network([4.0, 4.0, 4.0], in_channels=5)
    seen = {}
    network.conv_in.register_forward_pre_hook(lambda module, inputs: seen.setdefault("input", inputs[0].clone()))
    x, t = torch.randn(1, 5, 8, 8, 8), torch.tensor([500])
    c_in = network.coefficients(t)[0]
    with torch.no_grad():
        network(x, t)
    torch.testing.assert_close(seen["input"][:, :3], x[:, :3] * c_in)
    torch.testing.assert_close(seen["input"][:, 3:], x[:, 3:])
    assert float(c_in.flatten()[0]) < 0.9  # the scaling is not a no-op at this timestep


def test_bad_preconditioning_is_refused() -> None:
    with pytest.raises(ValueError, match="2 second moments for a U-Net with 3 input and 3 output"):
        _network([1.0, 1.0])
    with pytest.raises(ValueError, match="must all be positive"):
        _network([1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="not 'sample'"):
        _network([1.0, 1.0, 1.0], "sample")
    kwargs = {k: v for k, v in UNET.items() if k != "spatial_dims"}
    with pytest.raises(ValueError, match="measured 'second_moment'.*diffusion trainer"):
        build_unet({**kwargs, "channel_preconditioning": True})
    built = build_unet({**kwargs, "channel_preconditioning": {"second_moment": [2.0] * 3, "noise_scheduler": SCHEDULE}})
    assert built.preconditioned and torch.equal(built.second_moment, torch.full((3,), 2.0))
