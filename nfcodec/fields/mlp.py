"""Synthesis networks shared by the field kinds: an MLP (ReLU or GELU) and a SIREN."""

from __future__ import annotations

import math

import torch
from torch import nn

from nfcodec.fields.config import NetworkSpec

# GELU is the exact x * Phi(x) (erf form); a 16-wide ReLU net loses units for good.
_ACTIVATION_FUNCTIONS = {"relu": torch.relu, "gelu": torch.nn.functional.gelu}


class LayerStack(nn.Module):
    """Linear layers with an activation after every one but the last."""

    linears: nn.ModuleList

    def activate(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Layers [start, stop) applied to `x`, the input of layer `start` (all by default).

        Running [0, k) and then [k, end) is the same sequence of operations as one pass, so
        the result is bit for bit the same: the network step search keeps the input of the
        layer whose step it tries instead of rerunning the layers before it.
        """
        last = len(self.linears) - 1
        for index in range(start, len(self.linears) if stop is None else stop):
            x = self.linears[index](x)
            if index < last:
                x = self.activate(x)
        return x

    def ordered_parameters(self) -> list[nn.Parameter]:
        """Weight, then bias, of each layer from the first: the order of the stream."""
        return [p for linear in self.linears for p in (linear.weight, linear.bias)]

    @staticmethod
    def layer_of_parameter(index: int) -> int:
        """Layer of `ordered_parameters()[index]`."""
        return index // 2


class Mlp(LayerStack):
    """in -> [hidden]*layers -> out with `activation`; the last layer is linear."""

    def __init__(
        self, n_in: int, hidden: int, layers: int, n_out: int, activation: str = "relu"
    ) -> None:
        super().__init__()
        self.activation = _ACTIVATION_FUNCTIONS[activation]
        sizes = [n_in] + [hidden] * layers + [n_out]
        self.linears = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )
        with torch.no_grad():  # start at mid-grey so early steps fit detail, not the mean
            self.linears[-1].bias.fill_(0.5)

    def activate(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(x)


class Siren(LayerStack):
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

    def activate(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.omega * x)


def build_network(spec: NetworkSpec) -> LayerStack:
    """The torch network a `NetworkSpec` describes (the decoder evaluates it in numpy)."""
    n_in, *hidden, n_out = spec.sizes
    width = hidden[0] if hidden else 1
    if spec.activation == "sine":
        return Siren(n_in, width, len(hidden), n_out, spec.omega)
    return Mlp(n_in, width, len(hidden), n_out, activation=spec.activation)
