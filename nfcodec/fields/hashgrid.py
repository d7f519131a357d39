"""Multi-resolution hash grid (Instant-NGP style) + tiny MLP.

Each level is a vertex grid; a level is stored densely when its vertices fit the table
(2**log2_table_size rows) and hashed otherwise. Dense levels keep their spatial layout, which
lets the entropy coder use the rows above an entry as context: the same family as Cool-chic's
multi-resolution latents, with bilinear upsampling and a per-pixel MLP.
"""

from __future__ import annotations

import torch
from torch import nn

from nfcodec.container.spec import FieldKind
from nfcodec.fields.base import Field
from nfcodec.fields.config import HashGridConfig, level_resolutions
from nfcodec.fields.mlp import build_network
from nfcodec.kernels import LevelGeometry, grid_features


class HashGridField(Field):
    kind = FieldKind.HASHGRID
    config_type = HashGridConfig

    def __init__(
        self,
        config: HashGridConfig,
        height: int,
        width: int,
        channels: int,
        with_latents: bool = True,
    ) -> None:
        super().__init__(config, height, width, channels)
        self.geometries: list[LevelGeometry] = config.geometries(height, width)
        self.tables = nn.ParameterList(
            nn.Parameter(torch.zeros(g.rows, config.features))
            for g in (self.geometries if with_latents else [])
        )
        self.network = build_network(config.network(channels))

    def latent_parameters(self) -> list[nn.Parameter]:
        return list(self.tables)

    def features(
        self, latents: list[torch.Tensor], pixels: torch.Tensor | None = None
    ) -> torch.Tensor:
        return grid_features(
            latents, self.geometries, self.height, self.width, pixels=pixels,
            cubic_levels=self.config.cubic_levels,
        )


__all__ = ["HashGridConfig", "HashGridField", "level_resolutions"]
