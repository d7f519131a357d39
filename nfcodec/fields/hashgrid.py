"""Multi-resolution hash grid (Instant-NGP style) + tiny MLP.

Each level is a vertex grid; a level is stored densely when its vertices fit the table
(2**log2_table_size rows) and hashed otherwise. Dense levels keep their spatial layout, which
lets the entropy coder use the rows above an entry as context: the same family as Cool-chic's
multi-resolution latents, with bilinear upsampling and a per-pixel MLP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from nfcodec.container.spec import FieldKind, Interpolation
from nfcodec.fields.base import Field, FieldConfig, LatentTable
from nfcodec.fields.mlp import ACTIVATIONS, Mlp
from nfcodec.kernels import LevelGeometry, grid_features, level_geometry


@dataclass(frozen=True)
class HashGridConfig(FieldConfig):
    kind: ClassVar[FieldKind] = FieldKind.HASHGRID
    levels: int = 8
    features: int = 1
    log2_table_size: int = 20
    coarsest_resolution: int = 12
    finest_resolution: int = 768
    hidden_width: int = 16
    hidden_layers: int = 2
    context_rows: int = 2
    activation: int = 1  # 0 = ReLU, 1 = GELU
    interpolation: int = Interpolation.LAGRANGE


def level_resolutions(levels: int, coarsest: int, finest: int) -> list[int]:
    """Geometric resolutions from coarsest to finest, rounded exactly with integer maths.

    N_l is the real number c**((L-1-l)/(L-1)) * f**(l/(L-1)) rounded half up, computed as the
    largest N with (2N-1)**(L-1) <= 2**(L-1) * c**(L-1-l) * f**l, so every decoder agrees.
    """
    if levels == 1:
        return [finest]
    n = levels - 1
    out = []
    for level in range(levels):
        bound = (2**n) * coarsest ** (n - level) * finest**level
        lo, hi = 1, max(coarsest, finest) + 1
        while lo < hi:  # largest N in [1, hi) with (2N-1)**n <= bound
            mid = (lo + hi + 1) // 2
            if (2 * mid - 1) ** n <= bound:
                lo = mid
            else:
                hi = mid - 1
        out.append(lo)
    return out


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
        resolutions = level_resolutions(
            config.levels, config.coarsest_resolution, config.finest_resolution
        )
        self.geometries: list[LevelGeometry] = [
            level_geometry(height, width, r, config.log2_table_size) for r in resolutions
        ]
        self.tables = nn.ParameterList(
            nn.Parameter(torch.zeros(g.rows, config.features))
            for g in (self.geometries if with_latents else [])
        )
        self.network = Mlp(
            config.levels * config.features,
            config.hidden_width,
            config.hidden_layers,
            channels,
            activation=ACTIVATIONS[config.activation],
        )

    def latent_tables(self) -> list[LatentTable]:
        return [
            LatentTable(
                g.rows,
                self.config.features,
                (g.cells_h + 1, g.cells_w + 1) if g.dense else None,
            )
            for g in self.geometries
        ]

    def latent_parameters(self) -> list[nn.Parameter]:
        return list(self.tables)

    def features(
        self, latents: list[torch.Tensor], pixels: torch.Tensor | None = None
    ) -> torch.Tensor:
        return grid_features(
            latents, self.geometries, self.height, self.width, pixels=pixels,
            interpolation=self.config.interpolation,
        )
