"""Device selection and the numeric context for inference (autocast only on CUDA)."""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator

from typing import TYPE_CHECKING

from .errors import DeviceError

if TYPE_CHECKING:  # torch is imported on first use: the CLI's --help must not load it
    import torch

logger = logging.getLogger(__name__)
DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str | None = "auto") -> "torch.device":
    """``auto`` picks CUDA when present, else CPU; ``cpu``, ``cuda`` or ``cuda:N`` are taken as asked."""
    import torch

    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise DeviceError(
                f"Device '{name}' was requested but no CUDA GPU is available to this torch "
                f"(torch {torch.__version__}, CUDA build: {torch.version.cuda}). Use --device cpu or --device auto."
            )
        index = int(name.split(":", 1)[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise DeviceError(f"Device '{name}' does not exist; this machine has {torch.cuda.device_count()} CUDA device(s).")
        return torch.device("cuda", index)
    raise DeviceError(f"Unknown device '{name}'. Choose one of: auto, cpu, cuda, cuda:N.")


def describe_devices() -> dict:
    """What this machine offers, for UIs that show the detected device."""
    import torch

    info = {"cuda_available": torch.cuda.is_available(), "cpu_threads": torch.get_num_threads(), "torch": torch.__version__}
    if torch.cuda.is_available():
        info["cuda_devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


@contextlib.contextmanager
def inference_context(device: "torch.device") -> Iterator[None]:
    """``torch.inference_mode`` everywhere; autocast (bf16 if supported, else fp16) on CUDA only.

    bf16 autocast on CPU was measured unusably slow on this project's reference CPU, so CPU stays fp32.
    """
    import torch

    with torch.inference_mode():
        if device.type == "cuda":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            with torch.autocast("cuda", dtype=dtype):
                yield
        else:
            yield
