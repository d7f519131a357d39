"""Torch-only separable lookup for the full image (any device, autograd backward).

Bilinear interpolation on a full pixel grid factors into a blend along y then along x. A
hashed level is first gathered into a dense virtual vertex grid (one gather per vertex, not
four per pixel), after which it is treated like a dense one. Used as an intermediate point
in the benchmark and as a device-agnostic alternative to the numba kernels.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch

from nfcodec.kernels.geometry import LevelGeometry, cached_axis_samples, cached_vertex_table
from nfcodec.kernels.reference import grid_features_torch


@lru_cache(maxsize=128)
def _level_arrays(
    level: LevelGeometry, height: int, width: int
) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(vertex rows or None if dense, i0, fy, j0, fx) as CPU tensors, built once per level."""
    rows = None if level.dense else torch.from_numpy(np.array(cached_vertex_table(level)))
    i0, fy = cached_axis_samples(height, level.cells_h)
    j0, fx = cached_axis_samples(width, level.cells_w)
    return (
        None if rows is None else rows.reshape(-1),
        torch.from_numpy(np.array(i0)),
        torch.from_numpy(np.array(fy)),
        torch.from_numpy(np.array(j0)),
        torch.from_numpy(np.array(fx)),
    )


def _level_features(table: torch.Tensor, level: LevelGeometry, height: int, width: int):
    """(H*W, F) features of one level by two one-dimensional blends."""
    rows, i0, fy, j0, fx = (
        None if a is None else a.to(table.device) for a in _level_arrays(level, height, width)
    )
    grid = table if rows is None else table.index_select(0, rows)
    grid = grid.view(level.cells_h + 1, level.cells_w + 1, table.shape[1])
    fy = fy.to(table.dtype)[:, None, None]
    fx = fx.to(table.dtype)[None, :, None]
    along_y = torch.lerp(grid.index_select(0, i0), grid.index_select(0, i0 + 1), fy)
    along_x = torch.lerp(along_y.index_select(1, j0), along_y.index_select(1, j0 + 1), fx)
    return along_x.reshape(height * width, table.shape[1])


def grid_features_separable(
    tables: Sequence[torch.Tensor],
    levels: Sequence[LevelGeometry],
    height: int,
    width: int,
    pixels: torch.Tensor | None = None,
) -> torch.Tensor:
    """Full-image separable lookup; pixel subsets go to the reference path."""
    if pixels is not None:
        return grid_features_torch(tables, levels, height, width, pixels)
    parts = [
        _level_features(t, g, height, width) for t, g in zip(tables, levels, strict=True)
    ]
    return torch.cat(parts, dim=1)
