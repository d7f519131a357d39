"""DINER: a learnable per-pixel table (width 1-3) feeding an MLP or a SIREN.

The table is indexed by pixel position, so the field is indifferent to pixel order: the
random pixel permutation costs it nothing, unlike grid fields whose levels rely on
neighbouring pixels being alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from nfcodec.container.spec import FieldKind
from nfcodec.fields.base import Field, FieldConfig, LatentTable
from nfcodec.fields.mlp import LayerStack, Mlp, Siren

BACKBONE_MLP = 0
BACKBONE_SIREN = 1


@dataclass(frozen=True)
class DinerConfig(FieldConfig):
    kind: ClassVar[FieldKind] = FieldKind.DINER
    table_width: int = 2
    backbone: int = BACKBONE_MLP
    hidden_width: int = 32
    hidden_layers: int = 2
    siren_omega: int = 30


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
        if config.backbone == BACKBONE_SIREN:
            self.network: LayerStack = Siren(
                config.table_width,
                config.hidden_width,
                config.hidden_layers,
                channels,
                float(config.siren_omega),
            )
        else:
            self.network = Mlp(
                config.table_width, config.hidden_width, config.hidden_layers, channels
            )

    def latent_tables(self) -> list[LatentTable]:
        return [LatentTable(self.height * self.width, self.config.table_width, None)]

    def latent_parameters(self) -> list[nn.Parameter]:
        return [self.table]

    def features(
        self, latents: list[torch.Tensor], pixels: torch.Tensor | None = None
    ) -> torch.Tensor:
        table = latents[0]
        return table if pixels is None else table.index_select(0, pixels)
