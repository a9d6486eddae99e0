"""ControlNet conditioning: a MONAI ControlNet steers the frozen U-Net with a spatial map.

A bundle with ``capabilities.controlnet`` holds ``controlnet.safetensors`` and a ``control`` entry in
its ``controlnet`` config field that says what the conditioning map is (e.g. a tissue label map on
the bundle grid, scaled by ``1 / max_label``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..core.errors import BundleError, InvalidInputError

CONTROL_KEY = "control"


def control_spec(controlnet_config: dict[str, Any] | None) -> dict[str, Any]:
    """The conditioning description stored beside the ControlNet's constructor arguments."""
    if not controlnet_config:
        raise BundleError("This bundle has no ControlNet (capability 'controlnet' is false).")
    return dict(controlnet_config.get(CONTROL_KEY, {"kind": "tissue_labels", "max_label": 5}))


def controlnet_kwargs(controlnet_config: dict[str, Any]) -> dict[str, Any]:
    """Constructor arguments for ``monai.networks.nets.ControlNet`` (the ``control`` entry removed)."""
    return {k: v for k, v in controlnet_config.items() if k != CONTROL_KEY}


def prepare_control(control: np.ndarray, grid_shape: tuple[int, ...], spec: dict[str, Any]) -> torch.Tensor:
    """Check a conditioning map against the bundle grid and scale it as in training: ``(1, 1, i, j, k)``."""
    control = np.asarray(control)
    if tuple(control.shape) != tuple(grid_shape):
        raise InvalidInputError(
            f"The control map has shape {control.shape} but the bundle grid is {tuple(grid_shape)}; "
            "resample it onto the bundle grid first."
        )
    if not np.all(np.isfinite(control)):
        raise InvalidInputError("The control map contains NaN or infinite values.")
    if spec.get("kind") == "tissue_labels":
        max_label = float(spec.get("max_label", 5))
        if control.min() < 0 or control.max() > max_label or not np.allclose(control, np.round(control)):
            raise InvalidInputError(f"The control map must hold integer tissue labels 0..{int(max_label)}.")
        control = control / max_label
    return torch.as_tensor(control, dtype=torch.float32)[None, None]


class ControlledUNet(torch.nn.Module):
    """The U-Net with ControlNet residuals added, usable wherever the plain U-Net is called.

    Args:
        unet: the bundle's U-Net (``braingen3d.models.unet.ConditionedDiffusionUNet``).
        controlnet: the bundle's ``ControlNet``.
        control: the prepared conditioning map, ``(1, 1, i, j, k)``.
        scale: how strongly the residuals steer (``conditioning_scale``).
    """

    def __init__(self, unet: torch.nn.Module, controlnet: torch.nn.Module, control: torch.Tensor, scale: float) -> None:
        super().__init__()
        self.unet, self.controlnet, self.control, self.scale = unet, controlnet, control, scale

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor | None = None,
                attributes: torch.Tensor | None = None) -> torch.Tensor:
        """The U-Net's prediction with the ControlNet's residuals; the ControlNet reads the text tokens only."""
        control = self.control.to(x.device, x.dtype).expand(x.shape[0], *self.control.shape[1:])
        down, mid = self.controlnet(x, timesteps, controlnet_cond=control, conditioning_scale=self.scale, context=context)
        return self.unet(x, timesteps, context=context, attributes=attributes, down_block_additional_residuals=down,
                         mid_block_additional_residual=mid)
