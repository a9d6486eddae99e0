"""Exponential moving average of a network's weights (the EMA weights are what bundles ship)."""

from __future__ import annotations

import copy

import torch


class EMA:
    """Keeps ``shadow = decay * shadow + (1 - decay) * weights`` after every optimiser step.

    The effective decay ramps up as ``min(decay, (1 + n) / (10 + n))`` so that early averages are
    not dominated by the random initialisation. Buffers (e.g. norm statistics) are copied.

    Args:
        model: the network being trained (unwrapped, not the DDP wrapper).
        decay: the long-run decay.
    """

    def __init__(self, model: torch.nn.Module, decay: float = 0.999) -> None:
        self.decay = float(decay)
        self.updates = 0
        self.shadow = copy.deepcopy(model).eval().requires_grad_(False)
        for param in self.shadow.parameters():
            param.data = param.data.float()

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        for shadow, param in zip(self.shadow.parameters(), model.parameters()):
            shadow.lerp_(param.detach().float(), 1.0 - decay)
        for shadow, buffer in zip(self.shadow.buffers(), model.buffers()):
            shadow.copy_(buffer)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates, "weights": self.shadow.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.decay = float(state["decay"])
        self.updates = int(state["updates"])
        self.shadow.load_state_dict(state["weights"])
