"""Text encoder: offline MiniLM token states, truncation warning, caching."""

from __future__ import annotations

import logging
import socket

import pytest
import torch

from braingen3d.core.errors import BundleError
from braingen3d.prompts.text_encoder import TextEncoder


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder(max_tokens=16)


def test_loading_never_touches_the_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    states = TextEncoder(max_tokens=8).encode(["T1 brain"])
    assert states.shape == (1, 8, 384)


def test_token_states_have_fixed_length_and_differ_by_prompt(encoder):
    states = encoder.encode(["T1-weighted MRI", "FLAIR MRI with lesions", ""])
    assert states.shape == (3, 16, 384) and states.dtype == torch.float32
    assert not torch.allclose(states[0], states[1])
    assert not torch.allclose(states[0], states[2])


def test_mean_pooled_states_match_the_packaged_sentence_embedding(encoder):
    # all-MiniLM-L6-v2's sentence embedding is the attention-masked mean of the token states.
    tokens = encoder.tokenizer(["enlarged ventricles"], return_tensors="pt")
    with torch.no_grad():
        states = encoder.model(**tokens).last_hidden_state
    pooled = states.mean(dim=1)
    ours = encoder.encode(["enlarged ventricles"])[0, : tokens["input_ids"].shape[1]].mean(dim=0)
    assert torch.allclose(pooled[0], ours, atol=1e-5)


def test_overlong_prompts_are_truncated_with_a_warning(encoder, caplog):
    long_prompt = " ".join(["hyperintense"] * 40)
    with caplog.at_level(logging.WARNING, logger="braingen3d.prompts.text_encoder"):
        states = encoder.encode([long_prompt])
    assert states.shape == (1, 16, 384)
    assert any("only the first 16" in r.getMessage() for r in caplog.records)


def test_short_prompts_do_not_warn(encoder, caplog):
    with caplog.at_level(logging.WARNING, logger="braingen3d.prompts.text_encoder"):
        encoder.encode(["T2 brain"])
    assert not caplog.records


def test_cache_returns_the_same_tensor_without_re_encoding(encoder, monkeypatch):
    first = encoder.encode(["cached prompt"])
    monkeypatch.setattr(encoder, "_encode_uncached", lambda prompts: pytest.fail("re-encoded a cached prompt"))
    assert torch.equal(encoder.encode(["cached prompt"]), first)


def test_unknown_encoder_is_refused():
    with pytest.raises(BundleError, match="text_encoder.id"):
        TextEncoder("clip-vit-large")
