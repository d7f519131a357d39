"""Synthesis networks shared by the field kinds: a ReLU MLP and a SIREN."""

from __future__ import annotations

import math

import torch
from torch import nn


class Mlp(nn.Module):
    """in -> [hidden]*layers -> out with ReLU; the last layer is linear."""

    def __init__(self, n_in: int, hidden: int, layers: int, n_out: int) -> None:
        super().__init__()
        sizes = [n_in] + [hidden] * layers + [n_out]
        self.linears = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )
        with torch.no_grad():  # start at mid-grey so early steps fit detail, not the mean
            self.linears[-1].bias.fill_(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for index, linear in enumerate(self.linears):
            x = linear(x)
            if index < len(self.linears) - 1:
                x = torch.relu(x)
        return x


class Siren(nn.Module):
    """Sine-activated MLP (Sitzmann et al. 2020 initialisation), first-layer frequency omega."""

    def __init__(self, n_in: int, hidden: int, layers: int, n_out: int, omega: float) -> None:
        super().__init__()
        sizes = [n_in] + [hidden] * layers + [n_out]
        self.linears = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.omega = omega
        with torch.no_grad():
            for index, linear in enumerate(self.linears):
                fan_in = linear.in_features
                bound = 1.0 / fan_in if index == 0 else math.sqrt(6.0 / fan_in) / omega
                linear.weight.uniform_(-bound, bound)
            self.linears[-1].bias.fill_(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for index, linear in enumerate(self.linears):
            x = linear(x)
            if index < len(self.linears) - 1:
                x = torch.sin(self.omega * x)
        return x
