"""DINER: a learnable per-pixel table (width 1-3) feeding an MLP or a SIREN.

The table is indexed by pixel position, so the field is indifferent to pixel order: the
random pixel permutation costs it nothing, unlike grid fields whose levels rely on
neighbouring pixels being alike.
"""

from __future__ import annotations

import torch
from torch import nn

from nfcodec.container.spec import FieldKind
from nfcodec.fields.base import Field
from nfcodec.fields.config import DinerConfig
from nfcodec.fields.mlp import LayerStack, build_network


class DinerField(Field):
    kind = FieldKind.DINER
    config_type = DinerConfig

    def __init__(
        self, config: DinerConfig, height: int, width: int, channels: int, with_latents: bool = True
    ) -> None:
        super().__init__(config, height, width, channels)
        rows = height * width if with_latents else 0
        self.table = nn.Parameter(torch.empty(rows, config.table_width))
        with torch.no_grad():  # small spread so the backbone sees distinct inputs at step 0
            self.table.uniform_(-0.5, 0.5)
        self.network: LayerStack = build_network(config.network(channels))

    def latent_parameters(self) -> list[nn.Parameter]:
        return [self.table]

    def features(
        self, latents: list[torch.Tensor], pixels: torch.Tensor | None = None
    ) -> torch.Tensor:
        table = latents[0]
        return table if pixels is None else table.index_select(0, pixels)


__all__ = ["DinerConfig", "DinerField"]
