"""The small interface every neural field implements, so the codec can treat kinds alike.

A field owns two kinds of parameters:
- latents: integer-valued (after quantization) tables that carry most of the bits; each is a 2-D
  parameter of shape (rows, features), described by a `LatentTable` so the entropy coder knows
  whether neighbouring rows are spatial neighbours (context modelling) or not;
- a synthesis network (small MLP or SIREN) whose weights are quantized after training.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import torch
from torch import nn

from nfcodec.container.spec import FieldKind
from nfcodec.fields.config import FieldConfig, LatentTable
from nfcodec.fields.mlp import LayerStack

if TYPE_CHECKING:  # fields sit below fit in the module map: no run-time import
    from nfcodec.fit.presets import Preset


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
        return self.config.latent_tables(self.height, self.width)

    def latent_parameters(self) -> list[nn.Parameter]:
        """One (rows, features) parameter per `latent_tables()` entry, in the same order."""
        raise NotImplementedError

    def adjust_preset(self, preset: Preset) -> Preset:
        """The training settings this kind needs in place of `preset`'s (default: as given)."""
        return preset

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


__all__ = ["Field", "FieldConfig", "LatentTable"]
