"""Grid lookup at real-valued pixel positions, differentiable in the positions (torch).

The codec only ever samples pixel centres; optical flow by coordinate gradients (the
multiscale hash-encoding paper, section 4.3) needs features at `x + d` for a real `d` and
their gradient with respect to `d`. Same geometry as `axis_samples`: pixel row `y` sits at
`(y + 0.5) * cells / H` cells; taps outside the grid read the edge vertex.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from nfcodec.kernels.geometry import CUBIC_TERMS, LevelGeometry, vertex_index
from nfcodec.kernels.reference import BILINEAR


def _axis(position: torch.Tensor, pixels: int, cells: int, interpolation: int):
    """Clamped vertex taps (N, taps) and their weights (N, taps) along one axis."""
    v = ((position + 0.5) * (cells / pixels)).clamp(0.0, float(cells))
    lower = torch.floor(v).clamp(max=max(cells - 1, 0))
    t = v - lower  # carries the gradient; the floor does not
    if interpolation == BILINEAR:
        weights = torch.stack([1 - t, t], dim=1)
        offsets = torch.arange(0, 2, device=v.device)
    else:
        weights = torch.stack(CUBIC_TERMS[interpolation](t), dim=1)
        offsets = torch.arange(-1, 3, device=v.device)
    index = (lower.long()[:, None] + offsets[None, :]).clamp(0, cells)
    return index, weights


def sample_features(
    tables: Sequence[torch.Tensor],
    levels: Sequence[LevelGeometry],
    height: int,
    width: int,
    y: torch.Tensor,
    x: torch.Tensor,
    interpolation: int,
) -> torch.Tensor:
    """(N, L*F) features at real pixel positions (y, x), differentiable in y, x and tables."""
    taps = 2 if interpolation == BILINEAR else 4
    columns = []
    for table, level in zip(tables, levels, strict=True):
        iy, wy = _axis(y, height, level.cells_h, interpolation)
        jx, wx = _axis(x, width, level.cells_w, interpolation)
        acc = 0
        for a in range(taps):
            for b in range(taps):
                rows = vertex_index(level, iy[:, a], jx[:, b])
                acc = acc + (wy[:, a] * wx[:, b])[:, None] * table[rows]
        columns.append(acc)
    return torch.cat(columns, dim=1)
