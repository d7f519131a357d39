"""Grid lookup at real-valued pixel positions, differentiable in the positions (torch).

The codec only ever samples pixel centres; optical flow by coordinate gradients (the
multiscale hash-encoding paper, section 4.3) needs features at `x + d` for a real `d` and
their gradient with respect to `d`. Same geometry as `axis_samples`: pixel row `y` sits at
`(y + 0.5) * cells / H` cells; taps outside the grid read the edge vertex.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from nfcodec.kernels.geometry import LevelGeometry, lagrange_terms, vertex_index


def _axis(position: torch.Tensor, pixels: int, cells: int, cubic: bool):
    """Clamped vertex taps (N, taps) and their weights (N, taps) along one axis."""
    v = ((position + 0.5) * (cells / pixels)).clamp(0.0, float(cells))
    lower = torch.floor(v).clamp(max=max(cells - 1, 0))
    t = v - lower  # carries the gradient; the floor does not
    if cubic:
        weights = torch.stack(lagrange_terms(t), dim=1)
        offsets = torch.arange(-1, 3, device=v.device)
    else:
        weights = torch.stack([1 - t, t], dim=1)
        offsets = torch.arange(0, 2, device=v.device)
    index = (lower.long()[:, None] + offsets[None, :]).clamp(0, cells)
    return index, weights


def sample_features(
    tables: Sequence[torch.Tensor],
    levels: Sequence[LevelGeometry],
    height: int,
    width: int,
    y: torch.Tensor,
    x: torch.Tensor,
    cubic_levels: int,
) -> torch.Tensor:
    """(N, L*F) features at real pixel positions (y, x), differentiable in y, x and tables;
    the coarsest `cubic_levels` levels read by cubic Lagrange, the others bilinearly."""
    columns = []
    for index, (table, level) in enumerate(zip(tables, levels, strict=True)):
        cubic = index < cubic_levels
        taps = 4 if cubic else 2
        iy, wy = _axis(y, height, level.cells_h, cubic)
        jx, wx = _axis(x, width, level.cells_w, cubic)
        acc = 0
        for a in range(taps):
            for b in range(taps):
                rows = vertex_index(level, iy[:, a], jx[:, b])
                acc = acc + (wy[:, a] * wx[:, b])[:, None] * table[rows]
        columns.append(acc)
    return torch.cat(columns, dim=1)
