"""The small interface every neural field implements, so the codec can treat kinds alike.

A field owns two kinds of parameters:
- latents: integer-valued (after quantization) tables that carry most of the bits; each is a 2-D
  parameter of shape (rows, features), described by a `LatentTable` so the entropy coder knows
  whether neighbouring rows are spatial neighbours (context modelling) or not;
- a synthesis network (small MLP or SIREN) whose weights are quantized after training.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

import torch
from torch import nn

from nfcodec.container.spec import FIELD_PARAMS, FieldKind
from nfcodec.fields.mlp import LayerStack


@dataclass(frozen=True)
class LatentTable:
    """Layout of one latent table: `rows` entries of `features` values.

    When `grid_shape` is set the rows are a row-major (height, width) vertex grid, so the rows
    above an entry are its spatial neighbours; the context model uses them. Hashed tables and
    per-pixel tables have no such structure (`grid_shape` is None).
    """

    rows: int
    features: int
    grid_shape: tuple[int, int] | None


class FieldConfig:
    """Base for frozen dataclass configs whose integer fields are the header's hyper-parameters."""

    kind: ClassVar[FieldKind]

    def to_params(self) -> tuple[int, ...]:
        """Values in the wire order declared by `FIELD_PARAMS` for this kind."""
        return tuple(int(getattr(self, spec.name)) for spec in FIELD_PARAMS[self.kind])

    @classmethod
    def from_params(cls, values: tuple[int, ...]) -> FieldConfig:
        names = [spec.name for spec in FIELD_PARAMS[cls.kind]]
        return cls(**dict(zip(names, values, strict=True)))

    def check(self) -> None:
        """Raise ValueError when a value lies outside the bounds the container accepts."""
        for spec in FIELD_PARAMS[self.kind]:
            value = getattr(self, spec.name)
            if not spec.lo <= value <= spec.hi:
                raise ValueError(f"{spec.name}={value} outside [{spec.lo}, {spec.hi}]")

    def describe(self) -> str:
        return ", ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))  # type: ignore[arg-type]


class Field(nn.Module):
    """A neural field for one image of size (height, width) with `channels` outputs."""

    kind: ClassVar[FieldKind]
    config_type: ClassVar[type[FieldConfig]]

    def __init__(
        self, config: FieldConfig, height: int, width: int, channels: int, with_latents: bool = True
    ) -> None:
        """`with_latents=False` (decoding) skips the latent tables: the stream supplies them."""
        super().__init__()
        self.config = config
        self.height = height
        self.width = width
        self.channels = channels

    # Latents ---------------------------------------------------------------------------------
    def latent_tables(self) -> list[LatentTable]:
        raise NotImplementedError

    def latent_parameters(self) -> list[nn.Parameter]:
        """One (rows, features) parameter per `latent_tables()` entry, in the same order."""
        raise NotImplementedError

    # Synthesis -------------------------------------------------------------------------------
    network: LayerStack  # the synthesis network, set by each field kind

    def network_parameters(self) -> list[nn.Parameter]:
        """Weights and biases of the synthesis network, in a fixed wire order."""
        return self.network.ordered_parameters()

    def features(
        self, latents: list[torch.Tensor], pixels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Per-pixel network inputs (N, n_in) read from `latents`, all pixels or `pixels`.

        Split from `synthesize` because once the latents are fixed (the network step search)
        the features never change and need computing only once.
        """
        raise NotImplementedError

    def synthesize(self, features: torch.Tensor) -> torch.Tensor:
        """Colours (N, channels), roughly in [0, 1], from `features` rows."""
        return self.network(features)

    def render(
        self, latents: list[torch.Tensor], pixels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Colours (N, channels), roughly in [0, 1], of all pixels (row-major) or of `pixels`."""
        return self.synthesize(self.features(latents, pixels))
