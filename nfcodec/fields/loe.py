"""Levels-of-Experts: an MLP on the positional encoding whose first layers take their weights
from a small tile of matrices laid over the image (Hao et al., "Implicit Neural Representations
with Levels-of-Experts", NeurIPS 2022; supplement section A).

Layer k of the `tiled_layers` reads the tile through a grid of 2**scale_k cells a side, cell
(cy, cx) holding matrix (cy mod tile, cx mod tile); successive layers use successive scales
(coarse to fine or fine to coarse), so the tiles' combinations index a quad tree over the image.
The pixel's row and column ride along as two trailing input columns so each layer can find its
matrices; they are not network inputs.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nfcodec.container.spec import FieldKind
from nfcodec.fields.config import LoeConfig, NetworkSpec
from nfcodec.fields.coordinate import CoordinateField
from nfcodec.fields.mlp import LayerStack
from nfcodec.fields.positional import tile_scales, tile_taps

LEAKY_SLOPE = 0.2  # the supplement's Leaky ReLU
POSITION_COLUMNS = 2  # row, column of the pixel, appended to the inputs


class _Grouping:
    """One tap of one layer for a set of pixels: pixels sorted by matrix, and their weights."""

    def __init__(self, taps: np.ndarray, blend: np.ndarray, groups: int) -> None:
        self.order = np.argsort(taps, kind="stable")
        self.inverse = np.empty_like(self.order)
        self.inverse[self.order] = np.arange(self.order.size)
        self.counts = np.bincount(taps, minlength=groups).tolist()
        self.blend = torch.from_numpy(blend)[:, None]  # unused by nearest selection


class _Permute(torch.autograd.Function):
    """Rows `x[perm]`; the gradient is gathered back through the inverse permutation (a gather
    is much cheaper than the scatter-add index_select's backward would do)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, perm: torch.Tensor, inverse: torch.Tensor):  # type: ignore[override]
        ctx.save_for_backward(inverse)
        return x.index_select(0, perm)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (inverse,) = ctx.saved_tensors
        return grad.index_select(0, inverse), None, None


def _reorder(
    h: torch.Tensor, current: np.ndarray | None, wanted: np.ndarray | None
) -> torch.Tensor:
    """`h`, whose row r is pixel current[r], re-ordered so row r is pixel wanted[r]."""
    n = h.shape[0]
    identity = np.arange(n)
    cur = identity if current is None else current
    want = identity if wanted is None else wanted
    if np.array_equal(cur, want):
        return h
    position = np.empty(n, dtype=np.int64)
    position[cur] = identity  # where each pixel is now
    perm = position[want]
    inverse = np.empty(n, dtype=np.int64)
    inverse[perm] = identity
    device = h.device
    perm_t, inverse_t = torch.from_numpy(perm).to(device), torch.from_numpy(inverse).to(device)
    return _Permute.apply(h, perm_t, inverse_t)


class TiledStack(LayerStack):
    """Linear layers whose weights (tiles, out, in) depend on the pixel through its cell."""

    def __init__(self, spec: NetworkSpec, config: LoeConfig, height: int, width: int) -> None:
        super().__init__()
        self.height, self.width, self.side = height, width, max(height, width)
        self.tile, self.selection = config.tile, config.selection
        self.scales = tile_scales(config.tiled_layers, config.coarsest_log2, config.layout)
        self.linears = nn.ModuleList()
        for (out, inp), tiles in zip(spec.layer_shapes(), spec.layer_tiles(), strict=True):
            layer = nn.Module()
            layer.weight = nn.Parameter(torch.empty(tiles, out, inp))
            layer.bias = nn.Parameter(torch.zeros(tiles, out))  # the supplement: zero biases
            with torch.no_grad():  # Kaiming uniform for the Leaky ReLU, each matrix alike
                bound = math.sqrt(6.0 / ((1.0 + LEAKY_SLOPE**2) * inp))
                layer.weight.uniform_(-bound, bound)
            self.linears.append(layer)
        self._whole: list[list[_Grouping]] | None = None

    def activate(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, LEAKY_SLOPE)

    def _groupings(self, positions: torch.Tensor) -> list[list[_Grouping]]:
        """Per tiled layer, per tap, how the pixels at `positions` (row, column) group."""
        whole = positions.shape[0] == self.height * self.width
        if whole and self._whole is not None:
            return self._whole
        rows_cols = positions.detach().cpu().numpy().astype(np.int64)
        pixels = rows_cols[:, 0] * self.width + rows_cols[:, 1]
        out = []
        for scale in self.scales:
            taps, blend = tile_taps(pixels, self.width, self.side, scale, self.tile, self.selection)
            out.append(
                [_Grouping(taps[:, k], blend[:, k], self.tile**2) for k in range(taps.shape[1])]
            )
        if whole:
            self._whole = out
        return out

    @staticmethod
    def _sorted_linear(x: torch.Tensor, layer: nn.Module, counts: list[int]) -> torch.Tensor:
        """Linear of rows already sorted by matrix, `counts[g]` rows using matrix g."""
        groups = len(counts)
        if all(c == counts[0] for c in counts):  # equal groups (the usual power-of-two case)
            stacked = x.reshape(groups, counts[0], x.shape[1])
            out = torch.baddbmm(layer.bias[:, None, :], stacked, layer.weight.transpose(1, 2))
            return out.reshape(x.shape[0], -1)
        parts = x.split(counts)
        return torch.cat(
            [torch.addmm(layer.bias[g], part, layer.weight[g].t()) for g, part in enumerate(parts)]
        )

    def forward(self, x: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Layers [start, stop) on `x` = inputs plus the two position columns.

        The result keeps the position columns unless it is the network's output, so a partial
        run can be resumed (the network step search). Between nearest-selection layers the rows
        stay sorted by the last layer's matrix and move straight to the next layer's order.
        """
        positions = x[:, -POSITION_COLUMNS:]
        h = x[:, :-POSITION_COLUMNS]
        end = len(self.linears) if stop is None else stop
        last = len(self.linears) - 1
        groupings = self._groupings(positions) if start < len(self.scales) else []
        order: np.ndarray | None = None  # row r of h is pixel order[r] (None: in input order)
        for index in range(start, end):
            layer = self.linears[index]
            if index < len(self.scales):
                taps = groupings[index]
                if len(taps) == 1:
                    h = _reorder(h, order, taps[0].order)
                    order = taps[0].order
                    h = self._sorted_linear(h, layer, taps[0].counts)
                else:
                    h = _reorder(h, order, None)
                    order = None
                    h = sum(self._blended(h, layer, grouping) for grouping in taps)  # type: ignore[assignment]
            else:
                h = torch.addmm(layer.bias[0], h, layer.weight[0].t())
            if index < last:
                h = self.activate(h)
        h = _reorder(h, order, None)
        return h if end == len(self.linears) else torch.cat([h, positions], dim=1)

    def _blended(self, h: torch.Tensor, layer: nn.Module, grouping: _Grouping) -> torch.Tensor:
        """One bilinear tap: the matrices of the tap's cells, scaled by its weights."""
        sorted_out = self._sorted_linear(_reorder(h, None, grouping.order), layer, grouping.counts)
        out = _reorder(sorted_out, grouping.order, None)
        return out * grouping.blend.to(out.device)


class LoeField(CoordinateField):
    kind = FieldKind.LOE
    config_type = LoeConfig
    config: LoeConfig

    def __init__(
        self, config: LoeConfig, height: int, width: int, channels: int, with_latents: bool = True
    ) -> None:
        super().__init__(config, height, width, channels)
        self.network: LayerStack = TiledStack(config.network(channels), config, height, width)

    def network_lr(self) -> float:
        return 5e-3  # the supplement's Adam learning rate

    def inputs_of(self, pixels: np.ndarray) -> np.ndarray:
        encoded = super().inputs_of(pixels)
        rows, cols = np.divmod(np.asarray(pixels, dtype=np.int64), self.width)
        positions = np.stack([rows, cols], axis=1).astype(np.float32)  # exact below 2**24
        return np.concatenate([encoded, positions], axis=1)


__all__ = ["LoeConfig", "LoeField", "TiledStack"]
