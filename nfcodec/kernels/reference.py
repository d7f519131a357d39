"""Naive reference lookup: per-pixel corner gathers, autograd does the backward.

Deliberately plain (it recomputes every index on each call) so it is easy to check against
the specification; it is also the baseline the benchmark measures the fast paths against.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from nfcodec.kernels.geometry import (
    LevelGeometry,
    axis_samples,
    four_tap_axis_samples,
    vertex_index,
)


def _level_corners(
    level: LevelGeometry, y: torch.Tensor, x: torch.Tensor, height: int, width: int
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Table rows and bilinear weights of the four corners of each sample."""
    lower_i, frac_y = axis_samples(height, level.cells_h)
    lower_j, frac_x = axis_samples(width, level.cells_w)
    i0 = torch.from_numpy(lower_i).to(y.device)[y]
    j0 = torch.from_numpy(lower_j).to(x.device)[x]
    fy = torch.from_numpy(frac_y).to(y.device)[y]
    fx = torch.from_numpy(frac_x).to(x.device)[x]
    gy, gx = 1 - fy, 1 - fx
    corners = ((0, 0), (0, 1), (1, 0), (1, 1))
    rows = [vertex_index(level, i0 + di, j0 + dj) for di, dj in corners]
    weights = [gy * gx, gy * fx, fy * gx, fy * fx]
    return rows, weights


def _four_tap_level(
    table: torch.Tensor, level: LevelGeometry, y: torch.Tensor, x: torch.Tensor,
    height: int, width: int, cubic: bool,
) -> torch.Tensor:
    """One level's format-2.1 lookup in the specified order: y first, then x (a bilinear
    level sums only taps 1 and 2, the others weighing exactly zero)."""
    taps_y, weights_y = (torch.from_numpy(a).to(y.device)[y] for a in four_tap_axis_samples(
        height, level.cells_h, cubic))
    taps_x, weights_x = (torch.from_numpy(a).to(x.device)[x] for a in four_tap_axis_samples(
        width, level.cells_w, cubic))
    used = range(4) if cubic else range(1, 3)
    acc = None
    for b in used:
        column = None
        for a in used:
            rows = vertex_index(level, taps_y[:, a], taps_x[:, b])
            term = weights_y[:, a].to(table.dtype)[:, None] * table[rows]
            column = term if column is None else column + term
        term = weights_x[:, b].to(table.dtype)[:, None] * column
        acc = term if acc is None else acc + term
    return acc


def grid_features_torch(
    tables: Sequence[torch.Tensor],
    levels: Sequence[LevelGeometry],
    height: int,
    width: int,
    pixels: torch.Tensor | None = None,
    cubic_levels: int = 0,
) -> torch.Tensor:
    """Multi-level lookup, (N, L*F); see `nfcodec.kernels.grid_features`."""
    device = tables[0].device
    if pixels is None:
        pixels = torch.arange(height * width, device=device)
    pixels = pixels.to(device=device, dtype=torch.int64)
    y, x = pixels // width, pixels % width
    columns = []
    for index, (table, level) in enumerate(zip(tables, levels, strict=True)):
        if cubic_levels:
            cubic = index < cubic_levels
            columns.append(_four_tap_level(table, level, y, x, height, width, cubic))
            continue
        rows, weights = _level_corners(level, y, x, height, width)
        acc = None
        for r, w in zip(rows, weights, strict=True):
            term = w.to(table.dtype)[:, None] * table[r]
            acc = term if acc is None else acc + term
        columns.append(acc)
    return torch.cat(columns, dim=1)
