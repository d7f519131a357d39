"""Weight-only fields: the network reads each pixel's positional encoding, nothing else.

No latent tables: the network's weights are the whole representation (COIN, Dupont et al.
2021). `CoordinateField` holds what such fields share (inputs of the pixels asked for, the
whole image's cached); `CoordMlpField` is COIN's SIREN or a ReLU MLP on the encoding.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from nfcodec.container.spec import Backbone, FieldKind
from nfcodec.fields.base import Field
from nfcodec.fields.config import CoordinateConfig, CoordMlpConfig
from nfcodec.fields.mlp import LayerStack, build_network
from nfcodec.fields.positional import positional_encoding

if TYPE_CHECKING:  # fields sit below fit in the module map: no run-time import
    from nfcodec.fit.presets import Preset

# Share of pixels per step: the whole network learns from every sample, so larger batches than
# the latent fields' few percent pay off.
COORDINATE_BATCH_FRACTION = 0.25


class CoordinateField(Field):
    """A field whose network input is the positional encoding of the pixel (no latents)."""

    config: CoordinateConfig

    def __init__(
        self,
        config: CoordinateConfig,
        height: int,
        width: int,
        channels: int,
        with_latents: bool = True,
    ) -> None:
        super().__init__(config, height, width, channels)
        self._whole: torch.Tensor | None = None  # inputs of every pixel, built on first use

    def latent_parameters(self) -> list[nn.Parameter]:
        return []

    def network_lr(self) -> float:
        """Adam learning rate of the network, from the paper the kind comes from."""
        raise NotImplementedError

    def adjust_preset(self, preset: Preset) -> Preset:
        """The paper's learning rate, decayed tenfold (LoE supplement), and larger batches."""
        return replace(
            preset,
            lr_network=self.network_lr(),
            lr_floor=0.1,
            batch_fraction=COORDINATE_BATCH_FRACTION,
            hard_batch_fraction=COORDINATE_BATCH_FRACTION,
        )

    def encode_pixels(self, pixels: torch.Tensor | None) -> torch.Tensor:
        """Network inputs (N, n_in) of `pixels` (all, row-major, when None)."""
        if pixels is None:
            if self._whole is None:
                indices = np.arange(self.height * self.width, dtype=np.int64)
                self._whole = torch.from_numpy(self.inputs_of(indices))
            return self._whole.to(self._device())
        return torch.from_numpy(self.inputs_of(pixels.cpu().numpy())).to(pixels.device)

    def inputs_of(self, pixels: np.ndarray) -> np.ndarray:
        return positional_encoding(pixels, self.height, self.width, self.config.pe_octaves)

    def _device(self) -> torch.device:
        return next(self.network.parameters()).device

    def features(
        self, latents: list[torch.Tensor], pixels: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.encode_pixels(pixels)


class CoordMlpField(CoordinateField):
    kind = FieldKind.COORD_MLP
    config_type = CoordMlpConfig

    def __init__(
        self,
        config: CoordMlpConfig,
        height: int,
        width: int,
        channels: int,
        with_latents: bool = True,
    ) -> None:
        super().__init__(config, height, width, channels)
        self.network: LayerStack = build_network(config.network(channels))

    def network_lr(self) -> float:
        # COIN trains its SIREN at 2e-4; a ReLU MLP on the encoding takes a larger step
        return 2e-4 if self.config.backbone == Backbone.SIREN else 1e-3  # type: ignore[attr-defined]


__all__ = ["CoordMlpConfig", "CoordMlpField", "CoordinateField"]
