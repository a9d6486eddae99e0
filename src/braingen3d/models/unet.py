"""The bundle's U-Net: MONAI's ``DiffusionModelUNet`` with every conditioning input an explicit argument.

``forward(x, timesteps, context=None, attributes=None, ...)`` takes

* ``context``: the prompt's text token states, read by cross-attention (as in MONAI);
* ``attributes``: the prompt attribute vector (``braingen3d.prompts.attributes``): the modality, age, sex,
  ventricle and lesion wording the prompt names. An MLP of it (``AttributeEmbedding``) is added to the
  timestep embedding where MONAI adds a class embedding, and with an ``anatomical_prior`` it also scales
  template maps added after the first convolution (``AnatomicalPriorFeatures``). The empty prompt, guidance's
  unconditional branch, has the all-zero vector;
* the ControlNet residuals, as MONAI's ``down_block_additional_residuals`` and ``mid_block_additional_residual``.

Cross-attention alone learns from token states neither that "T1-weighted" selects a contrast nor that
"72-year-old" implies larger ventricles on a small training budget; the attribute vector gives the U-Net
those facts directly, read from the prompt by the engine's parser, so the prompt stays the only input.

Channel preconditioning. A plain U-Net predicting ``v`` (or ``eps``) is well conditioned when every latent
channel has unit variance: the best linear guess of ``v`` is then 0, and the network only learns what is not
linear. An orthonormal block-PCA latent keeps the image's energy spectrum instead (the coarse channel has a
second moment of about 30, the finest about 0.005 in scaled units). For a weak channel the target is almost a
copy of the noisy input, scaled, which a U-Net reproduces badly: it then predicts those channels worse than
predicting zero, and samples come out covered in fine noise. Following EDM's preconditioning (Karras et al.,
2022), per channel ``k`` with second moment ``m_k``, at a timestep with ``a = sqrt(alpha_bar)`` and
``s = sqrt(1 - alpha_bar)`` (``d_k = a^2 m_k + s^2``)::

    v = (a s (1 - m_k) / d_k) x_t + sqrt(m_k / d_k) F(x_t / sqrt(d_k))
    eps = (s / d_k) x_t + a sqrt(m_k / d_k) F(x_t / sqrt(d_k))

The first term is the prediction of the best linear (Wiener) denoiser of that channel; the network ``F``
sees unit-variance inputs and predicts a unit-scale residual. The loss and the samplers are unchanged. Input
channels beyond the latent's (the inpainting U-Net's mask and masked latent) pass unscaled.

With no option set the network, its state dict and its output are MONAI's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from monai.networks.nets import DiffusionModelUNet
from monai.networks.nets.diffusion_model_unet import get_timestep_embedding

from ..prompts.attributes import ALL_ATTRIBUTE_FEATURES, ATTRIBUTE_FEATURES
from .anatomical_prior import AnatomicalPriorFeatures
from .attribute_embedding import AttributeEmbedding

PRECONDITIONING_FIELD = "channel_preconditioning"
"""Bundle ``unet`` field: ``{"second_moment": [...], "noise_scheduler": {...}}`` (absent: no preconditioning)."""


def schedule_alphas_cumprod(noise_scheduler: dict[str, Any]) -> torch.Tensor:
    """``alpha_bar`` per training timestep of a bundle's ``noise_scheduler`` (the training scheduler's)."""
    from ..sampling.schedulers import make_training_scheduler

    return make_training_scheduler(noise_scheduler).alphas_cumprod.float()


class ConditionedDiffusionUNet(DiffusionModelUNet):
    """``DiffusionModelUNet`` that also reads the prompt attributes and may be preconditioned per latent channel.

    Args:
        prompt_attributes: read the prompt attribute vector: its first ``ATTRIBUTE_FEATURES`` entries (modality,
            age, sex, ventricles) through the timestep embedding.
        lesion_attributes: read the ``LESION_FEATURES`` after them as well (needs ``prompt_attributes``).
        anatomical_prior: ``{"structures": [...], "shape": [I, J, K]}``: template maps of those structures on the
            latent grid, scaled by the attributes and added after the first convolution (needs
            ``prompt_attributes``); the maps start at zero and travel in the weights.
        channel_preconditioning: ``{"second_moment": [...], "noise_scheduler": {...}}``: the scaled training
            latents' mean square per latent channel and the bundle's training noise schedule; None: no
            preconditioning.
        **kwargs: ``DiffusionModelUNet``'s arguments.
    """

    def __init__(self, prompt_attributes: bool = False, lesion_attributes: bool = False,
                 anatomical_prior: dict[str, Any] | None = None,
                 channel_preconditioning: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if lesion_attributes and not prompt_attributes:
            raise ValueError("'lesion_attributes' needs 'prompt_attributes: true': the lesion features are entries of "
                             "the prompt attribute vector.")
        embed_dim = self.time_embed[-1].out_features
        self.attribute_features = (ALL_ATTRIBUTE_FEATURES if lesion_attributes else ATTRIBUTE_FEATURES) \
            if prompt_attributes else 0
        self.attribute_embedding = AttributeEmbedding(self.attribute_features, embed_dim) if prompt_attributes else None
        self.anatomical_prior = None
        if anatomical_prior is not None:
            if not prompt_attributes:
                raise ValueError("'anatomical_prior' needs 'prompt_attributes: true': the prior is scaled by the "
                                 "prompt's attributes.")
            structures, shape = anatomical_prior.get("structures"), anatomical_prior.get("shape")
            if not structures or not shape or len(shape) != 3:
                raise ValueError("'anatomical_prior' needs 'structures' (non-empty) and the latent 'shape' (3 sizes); "
                                 f"got {anatomical_prior!r}. The diffusion trainer writes both.")
            self.anatomical_prior = AnatomicalPriorFeatures(len(structures), shape, self.conv_in.conv.out_channels)
        self.preconditioned = channel_preconditioning is not None
        if self.preconditioned:
            self._set_up_preconditioning(channel_preconditioning)

    def _set_up_preconditioning(self, field: dict[str, Any]) -> None:
        if not isinstance(field, dict) or "second_moment" not in field:
            raise ValueError(f"'{PRECONDITIONING_FIELD}' must hold the measured 'second_moment' per latent channel and "
                             "the 'noise_scheduler'; the diffusion trainer measures them from the latent cache.")
        moments = torch.as_tensor([float(m) for m in field["second_moment"]], dtype=torch.float32)
        if moments.numel() != self.out_channels or self.in_channels < self.out_channels:
            raise ValueError(f"channel_preconditioning has {moments.numel()} second moments for a U-Net with "
                             f"{self.in_channels} input and {self.out_channels} output channels; it needs one per "
                             "latent (output) channel.")
        if not bool((moments > 0).all()):
            raise ValueError("channel_preconditioning second moments must all be positive.")
        noise_scheduler = field["noise_scheduler"]
        self.prediction_type = noise_scheduler.get("prediction_type", "epsilon")
        if self.prediction_type not in ("epsilon", "v_prediction"):
            raise ValueError(f"channel_preconditioning supports epsilon and v_prediction, not {self.prediction_type!r}.")
        # Not persistent: the state dict is the plain U-Net's, the preconditioning comes from the bundle config.
        self.register_buffer("second_moment", moments, persistent=False)
        self.register_buffer("alphas_cumprod", schedule_alphas_cumprod(noise_scheduler), persistent=False)

    def coefficients(self, timesteps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(c_in, c_skip, c_out)``, each ``(B, C, 1, 1, 1)``, for integer training timesteps ``(B,)``."""
        alpha_bar = self.alphas_cumprod[timesteps.long().clamp(0, len(self.alphas_cumprod) - 1)]
        a = alpha_bar.sqrt().view(-1, 1)
        s = (1 - alpha_bar).sqrt().view(-1, 1)
        m = self.second_moment.view(1, -1)
        d = a * a * m + s * s
        c_in = d.rsqrt()
        if self.prediction_type == "v_prediction":
            c_skip, c_out = a * s * (1 - m) / d, (m / d).sqrt()
        else:
            c_skip, c_out = s / d, a * (m / d).sqrt()
        shape = (-1, len(m[0]), 1, 1, 1)
        return c_in.reshape(shape), c_skip.reshape(shape), c_out.reshape(shape)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor | None = None,
                class_labels: torch.Tensor | None = None,
                down_block_additional_residuals: Sequence[torch.Tensor] | None = None,
                mid_block_additional_residual: torch.Tensor | None = None,
                attributes: torch.Tensor | None = None) -> torch.Tensor:
        """The prediction for ``x`` (N, C, ...) at ``timesteps`` (N,).

        Args:
            context: text token states (N, tokens, cross_attention_dim).
            class_labels: MONAI's class labels (unused by bundles).
            down_block_additional_residuals, mid_block_additional_residual: ControlNet residuals.
            attributes: prompt attribute vectors (N, >= the features this U-Net reads); required with ``context``
                when the U-Net reads attributes. Without a context, absent attributes add nothing.
        """
        if self.attribute_embedding is not None and attributes is None and context is not None:
            raise ValueError("This U-Net reads the prompt attributes (prompt_attributes: true); pass attributes= with "
                             "the prompt attribute vectors (braingen3d.prompts.attributes).")
        if attributes is not None and self.attribute_embedding is not None:
            if attributes.shape[-1] < self.attribute_features:
                raise ValueError(f"This U-Net reads {self.attribute_features} prompt attributes; got "
                                 f"{attributes.shape[-1]}.")
        else:
            attributes = None
        residuals = (down_block_additional_residuals, mid_block_additional_residual)
        if not self.preconditioned:
            return self._network(x, timesteps, context, class_labels, attributes, *residuals)
        timesteps = torch.as_tensor(timesteps, device=x.device).reshape(-1).expand(x.shape[0])
        c_in, c_skip, c_out = self.coefficients(timesteps)
        latent = x[:, :self.out_channels].float()
        extra = x[:, self.out_channels:].float()
        scaled = torch.cat([latent * c_in, extra], dim=1).to(x.dtype)
        residual = self._network(scaled, timesteps, context, class_labels, attributes, *residuals)
        with torch.autocast(device_type=x.device.type, enabled=False):
            return c_skip * latent + c_out * residual.float()

    def _network(self, x: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor | None,
                 class_labels: torch.Tensor | None, attributes: torch.Tensor | None,
                 down_block_additional_residuals: Sequence[torch.Tensor] | None,
                 mid_block_additional_residual: torch.Tensor | None) -> torch.Tensor:
        """MONAI's ``DiffusionModelUNet.forward`` with the attribute embedding and the anatomical prior added."""
        t_emb = get_timestep_embedding(timesteps, self.block_out_channels[0]).to(dtype=x.dtype)
        emb = self.time_embed(t_emb)
        if attributes is not None:
            features = attributes[:, :self.attribute_features]
            emb = emb + self.attribute_embedding(features.to(emb.dtype)).to(emb.dtype)
        if self.num_class_embeds is not None:
            if class_labels is None:
                raise ValueError("class_labels should be provided when num_class_embeds > 0")
            emb = emb + self.class_embedding(class_labels).to(dtype=x.dtype)
        h = self.conv_in(x)
        if self.anatomical_prior is not None:
            h = self.anatomical_prior(None if attributes is None else attributes[:, :ATTRIBUTE_FEATURES], h)
        if context is not None and self.with_conditioning is False:
            raise ValueError("model should have with_conditioning = True if context is provided")
        down_block_res_samples: list[torch.Tensor] = [h]
        for downsample_block in self.down_blocks:
            h, res_samples = downsample_block(hidden_states=h, temb=emb, context=context)
            down_block_res_samples.extend(res_samples)
        if down_block_additional_residuals is not None:
            down_block_res_samples = [sample + residual for sample, residual
                                      in zip(down_block_res_samples, down_block_additional_residuals)]
        h = self.middle_block(hidden_states=h, temb=emb, context=context)
        if mid_block_additional_residual is not None:
            h = h + mid_block_additional_residual
        for upsample_block in self.up_blocks:
            index = -len(upsample_block.resnets)
            res_samples, down_block_res_samples = down_block_res_samples[index:], down_block_res_samples[:index]
            h = upsample_block(hidden_states=h, res_hidden_states_list=res_samples, temb=emb, context=context)
        return self.out(h)
