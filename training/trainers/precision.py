"""Mixed precision and gradient checkpointing, used on CUDA only (CPU trains in fp32).

bf16 autocast on the project's reference CPU was measured unusably slow, so CPU never autocasts.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Iterator

import torch
from torch.utils.checkpoint import checkpoint


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 on CUDA GPUs that support it, else fp16 on CUDA, None (fp32) on CPU."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@contextlib.contextmanager
def autocast(device: torch.device) -> Iterator[None]:
    dtype = autocast_dtype(device)
    if dtype is None:
        yield
    else:
        with torch.autocast(device.type, dtype=dtype):
            yield


def make_grad_scaler(device: torch.device) -> torch.amp.GradScaler:
    """A GradScaler that is active only for fp16 autocast (bf16 and fp32 do not need loss scaling)."""
    return torch.amp.GradScaler(device.type, enabled=autocast_dtype(device) == torch.float16)


def enable_unet_checkpointing(unet: torch.nn.Module) -> None:
    """Recompute each U-Net block's activations in the backward pass (trades compute for memory on GPUs).

    MONAI's ``DiffusionModelUNet`` has no switch for this, so the block forwards are wrapped.
    """
    blocks = [*unet.down_blocks, unet.middle_block, *unet.up_blocks]
    for block in blocks:
        original = block.forward

        @functools.wraps(original)
        def wrapped(*args, _original=original, **kwargs):
            return checkpoint(_original, *args, use_reentrant=False, **kwargs)

        block.forward = wrapped
