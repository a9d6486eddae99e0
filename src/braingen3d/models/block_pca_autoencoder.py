"""An autoencoder whose encoder is a fixed block-PCA projection and whose decoder learns a correction.

The image is cut into non-overlapping ``f x f x f`` blocks (``f`` = the downsampling factor). Each block
is projected on the ``latent_channels`` leading principal directions of training blocks. With
``channel_whitening`` each channel is divided by its own spread, so every channel has unit variance and a
diffusion model, which noises every channel equally, forms coarse anatomy and fine detail over the same
noise levels. Without it all channels are divided by one common spread and the latent keeps the blocks'
natural energy spectrum (coarse directions strong, fine ones weak); then the weakest directions only rise
above the noise in the last few timesteps, too late for a sampler to form them, and they need a U-Net
preconditioned per channel (``braingen3d.models.unet``) even to be denoised.
Decoding inverts the projection (the best linear reconstruction) and adds the output of a MONAI
``Decoder`` started at zero, so training can only refine the linear reconstruction, never start from noise.

Why: on a CPU budget a deep KL autoencoder learns too slowly to reach the reconstruction target. A fixed
linear path is the residual shortcut of deep-compression
autoencoders taken to its limit: the latent is known before training, the reconstruction starts at the
linear optimum, and the learned part only has to add what is non-linear.

The PCA is uncentred, so an all-zero block (background) encodes to a zero latent and decodes to zero.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from monai.networks.blocks import Convolution
from monai.networks.nets.autoencoderkl import Decoder

BLOCK_PCA_KIND = "block_pca"


class BlockPCAFitError(ValueError):
    """The blocks given to ``fit_basis`` cannot define the requested number of directions."""


class BlockPCAAutoencoder(torch.nn.Module):
    """Block-PCA encoder, PCA inverse plus learned ``Decoder`` correction; ``AutoencoderKL``'s interface.

    Args:
        spatial_dims: 3 (2 also works).
        in_channels: image channels.
        out_channels: must equal ``in_channels`` (the linear path reconstructs the input).
        channels: the decoder's channels; ``len(channels) - 1`` upsamplings by 2 give the block size.
        latent_channels: principal directions kept per block.
        num_res_blocks: residual blocks per decoder level.
        norm_num_groups: group-norm groups in the decoder.
        attention_levels: decoder attention per level.
        with_decoder_nonlocal_attn: MONAI ``Decoder``'s non-local attention.
        norm_eps: group-norm epsilon.
        use_checkpoint: gradient checkpointing of the decoder (CUDA training).
        channel_whitening: divide each latent channel by its own spread (unit variance per channel) instead
            of one common spread. The decoder's correction always reads the latent at the common spread, so
            the same trained correction serves both.
        with_encoder_nonlocal_attn: accepted for config compatibility with ``AutoencoderKL``; unused.
    """

    def __init__(
        self,
        spatial_dims: int = 3,
        in_channels: int = 1,
        out_channels: int = 1,
        channels: Sequence[int] = (32, 64, 64),
        latent_channels: int = 32,
        num_res_blocks: Sequence[int] | int = 1,
        norm_num_groups: int = 16,
        attention_levels: Sequence[bool] = (False, False, False),
        with_decoder_nonlocal_attn: bool = False,
        norm_eps: float = 1e-6,
        use_checkpoint: bool = False,
        channel_whitening: bool = False,
        with_encoder_nonlocal_attn: bool = False,
    ) -> None:
        super().__init__()
        if out_channels != in_channels:
            raise ValueError(f"BlockPCAAutoencoder needs out_channels == in_channels (got {out_channels} and "
                             f"{in_channels}): its linear path reconstructs the input.")
        self.spatial_dims = spatial_dims
        # The block projection is a strided convolution with the basis as its kernel; its transpose inverts it.
        self._project = F.conv3d if spatial_dims == 3 else F.conv2d
        self._unproject = F.conv_transpose3d if spatial_dims == 3 else F.conv_transpose2d
        self.block = 2 ** (len(channels) - 1)
        block_size = in_channels * self.block**spatial_dims
        if not 1 <= latent_channels <= block_size:
            raise ValueError(f"latent_channels must be between 1 and the {block_size} values of a "
                             f"{self.block}-voxel block; got {latent_channels}.")
        self.latent_channels = latent_channels
        self.use_checkpoint = use_checkpoint
        self.channel_whitening = channel_whitening
        if isinstance(num_res_blocks, int):
            num_res_blocks = [num_res_blocks] * len(channels)
        kernel = (latent_channels, in_channels) + (self.block,) * spatial_dims
        self.register_buffer("block_basis", torch.zeros(kernel))
        self.register_buffer("channel_scale", torch.ones(latent_channels))
        self.register_buffer("posterior_log_variance", torch.tensor(-8.0))
        self.post_quant_conv = Convolution(spatial_dims=spatial_dims, in_channels=latent_channels,
                                           out_channels=latent_channels, strides=1, kernel_size=1, padding=0,
                                           conv_only=True)
        self.decoder = Decoder(spatial_dims=spatial_dims, channels=channels, in_channels=latent_channels,
                               out_channels=out_channels, num_res_blocks=num_res_blocks,
                               norm_num_groups=norm_num_groups, norm_eps=norm_eps, attention_levels=attention_levels,
                               with_nonlocal_attn=with_decoder_nonlocal_attn)
        last = self.decoder.blocks[-1].conv
        torch.nn.init.zeros_(last.weight)
        torch.nn.init.zeros_(last.bias)

    # --- the linear path ---------------------------------------------------------------------------
    @torch.no_grad()
    def fit_basis(self, blocks: torch.Tensor) -> dict[str, float]:
        """Set the projection from training blocks; returns the fraction of their energy it keeps.

        Args:
            blocks: ``(N, in_channels * block**spatial_dims)`` flattened blocks in the layout of
                ``image_blocks`` (all-zero background blocks may be left out).

        Raises:
            BlockPCAFitError: fewer distinct blocks than latent channels, or a direction with no energy.
        """
        blocks = blocks.double().reshape(len(blocks), -1)
        if blocks.shape[1] != self.block_basis[0].numel():
            raise BlockPCAFitError(f"blocks have {blocks.shape[1]} values; this autoencoder's blocks have "
                                   f"{self.block_basis[0].numel()}.")
        if len(blocks) < self.latent_channels:
            raise BlockPCAFitError(f"{len(blocks)} blocks cannot define {self.latent_channels} directions; "
                                   "fit on more training volumes.")
        second_moment = blocks.T @ blocks / len(blocks)
        energy, directions = torch.linalg.eigh(second_moment)
        order = torch.argsort(energy, descending=True)
        energy, directions = energy[order].clamp_min(0.0), directions[:, order]
        kept = energy[: self.latent_channels]
        if float(kept[-1]) <= 1e-12 * float(kept[0]):
            raise BlockPCAFitError(f"only {int((energy > 1e-12 * energy[0]).sum())} block directions carry "
                                   f"energy, fewer than latent_channels={self.latent_channels}; the training "
                                   "volumes are too uniform or too few.")
        # A deterministic sign per direction (largest entry positive), so refits give the same weights.
        basis = directions[:, : self.latent_channels].T
        signs = torch.sign(basis.gather(1, basis.abs().argmax(1, keepdim=True)))
        basis = basis * signs
        self.block_basis.copy_(basis.reshape(self.block_basis.shape).to(self.block_basis.dtype))
        spread = kept.sqrt() if self.channel_whitening else kept.mean().sqrt().expand_as(kept)
        self.channel_scale.copy_(spread.to(self.channel_scale.dtype))
        return {"energy_kept": float(kept.sum() / energy.sum()), "blocks": len(blocks)}

    def image_blocks(self, image: torch.Tensor) -> torch.Tensor:
        """``(N, in_channels * block**spatial_dims)`` non-overlapping blocks of ``(B, C, *spatial)`` images."""
        b = self.block
        blocks = image
        for axis in range(2, 2 + self.spatial_dims):
            blocks = blocks.unfold(axis, b, b)
        # (B, C, n1, n2, n3, b, b, b) -> (B*n1*n2*n3, C*b*b*b), channel-major like the conv kernel.
        spatial = list(range(2, 2 + self.spatial_dims))
        kernel = list(range(2 + self.spatial_dims, 2 + 2 * self.spatial_dims))
        blocks = blocks.permute(0, *spatial, 1, *kernel)
        return blocks.reshape(-1, image.shape[1] * b**self.spatial_dims)

    def _channel_scale(self) -> torch.Tensor:
        return self.channel_scale.view(1, -1, *([1] * self.spatial_dims)).float()

    # --- AutoencoderKL's interface --------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean (the scaled block projection) and its fixed standard deviation."""
        for size in x.shape[2:]:
            if size % self.block:
                raise ValueError(f"image size {tuple(x.shape[2:])} is not a multiple of the {self.block}-voxel "
                                 "block; pad or crop it to the bundle grid.")
        # The projection runs in float32 even under autocast: bf16 would cost the linear path ~0.4%.
        with torch.autocast(device_type=x.device.type, enabled=False):
            z_mu = self._project(x.float(), self.block_basis, stride=self.block) / self._channel_scale()
        z_sigma = torch.exp(self.posterior_log_variance / 2).to(z_mu.dtype).expand_as(z_mu)
        return z_mu, z_sigma

    def sampling(self, z_mu: torch.Tensor, z_sigma: torch.Tensor) -> torch.Tensor:
        return z_mu + torch.randn_like(z_sigma) * z_sigma

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Linear reconstruction plus the learned correction, in float32."""
        with torch.autocast(device_type=z.device.type, enabled=False):
            linear = self._unproject(z.float() * self._channel_scale(), self.block_basis, stride=self.block)
        # The correction reads the latent at the channels' common spread (their RMS), whitened or not.
        scale = self.channel_scale.float()
        common = (scale / scale.pow(2).mean().sqrt()).view(1, -1, *([1] * self.spatial_dims))
        h = self.post_quant_conv(z * common.to(z.dtype))
        if self.use_checkpoint and self.training:
            correction = torch.utils.checkpoint.checkpoint(self.decoder, h, use_reentrant=False)
        else:
            correction = self.decoder(h)
        return linear + correction.float()

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x)[0])

    def forward(self, x: torch.Tensor, latent_noise: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction, posterior mean and sigma.

        Args:
            x: ``(B, C, *spatial)`` images.
            latent_noise: optional ``(B, latent_channels)`` standard deviations of Gaussian noise added to each
                sample's latent channels before decoding, so that training teaches the decoder to tolerate a
                sampler's errors.
        """
        z_mu, z_sigma = self.encode(x)
        z = self.sampling(z_mu, z_sigma)
        if latent_noise is not None:
            z = z + torch.randn_like(z) * latent_noise.to(z.dtype).view(*latent_noise.shape, *([1] * self.spatial_dims))
        return self.decode(z), z_mu, z_sigma

    def encode_stage_2_inputs(self, x: torch.Tensor) -> torch.Tensor:
        return self.sampling(*self.encode(x))

    def decode_stage_2_outputs(self, z: torch.Tensor) -> torch.Tensor:
        return self.decode(z)


def training_blocks(autoencoder: BlockPCAAutoencoder, volumes: Sequence[np.ndarray]) -> torch.Tensor:
    """The non-background blocks of single-channel volumes, for ``fit_basis``."""
    rows = []
    for volume in volumes:
        blocks = autoencoder.image_blocks(torch.from_numpy(np.ascontiguousarray(volume, dtype=np.float32))[None, None])
        rows.append(blocks[blocks.abs().sum(1) > 0])
    return torch.cat(rows)
