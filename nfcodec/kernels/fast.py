"""Fast CPU lookup: cached per-geometry plans driving the numba kernels, wrapped for autograd.

The field calls the lookup thousands of times with one geometry, so everything that depends
only on (levels, height, width, features) is built once in a `GridPlan` and memoised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from nfcodec.kernels import numba_cubic as nc
from nfcodec.kernels import numba_grid as nk
from nfcodec.kernels.geometry import (
    LevelGeometry,
    cached_axis_samples,
    cached_cubic_axis_samples,
)
from nfcodec.kernels.reference import BILINEAR, grid_features_torch


@dataclass(frozen=True, eq=False)
class GridPlan:
    """Everything the kernels need that depends only on geometry, never on table values."""

    height: int
    width: int
    features: int
    rows: tuple[int, ...]  # table rows per level, to split the concatenated gradient
    meta: np.ndarray  # (L, META_COLUMNS) int64
    iy: np.ndarray  # (L*H,) int64 lower vertex row of each pixel row
    fy: np.ndarray  # (L*H,) float32 fraction along y
    jx: np.ndarray  # (L*W,) int64 lower vertex column of each pixel column
    fx: np.ndarray  # (L*W,) float32 fraction along x
    ystart: np.ndarray  # per level, first pixel row whose lower vertex row is >= i
    xstart: np.ndarray  # per level, first pixel column whose lower vertex column is >= j
    tasks: np.ndarray  # (sum of vertex rows, 2) int64: (level, vertex row) work items
    sizes: tuple[int, int]  # floats in the row-gradient and vertex-gradient buffers
    # 4-tap interpolations only (else None): (L*H, 4) / (L*W, 4) vertex taps and weights
    ty: np.ndarray | None = None
    wy: np.ndarray | None = None
    tx: np.ndarray | None = None
    wx: np.ndarray | None = None


def _cubic_taps(
    levels: tuple[LevelGeometry, ...], height: int, width: int, interpolation: int
) -> dict[str, np.ndarray]:
    """Per-level 4-tap indices and weights, stacked level-major like the bilinear samples."""
    ys = [cached_cubic_axis_samples(height, level.cells_h, interpolation) for level in levels]
    xs = [cached_cubic_axis_samples(width, level.cells_w, interpolation) for level in levels]
    return {
        "ty": np.concatenate([t for t, _ in ys]),
        "wy": np.concatenate([w for _, w in ys]),
        "tx": np.concatenate([t for t, _ in xs]),
        "wx": np.concatenate([w for _, w in xs]),
    }


def _build_plan(
    levels: tuple[LevelGeometry, ...], height: int, width: int, features: int,
    interpolation: int = 0,
) -> GridPlan:
    """Lay out per-level axis samples, offsets and backward work items for the kernels."""
    meta = np.zeros((len(levels), nk.META_COLUMNS), dtype=np.int64)
    iy, fy, jx, fx, ystart, xstart, tasks = [], [], [], [], [], [], []
    row_off = ga_off = gv_off = ys_off = xs_off = 0
    for index, level in enumerate(levels):
        lower_i, frac_y = cached_axis_samples(height, level.cells_h)
        lower_j, frac_x = cached_axis_samples(width, level.cells_w)
        vh, vw = level.cells_h + 1, level.cells_w + 1
        meta[index] = (
            level.cells_h, level.cells_w, row_off, 0 if level.dense else 1,
            level.table_size - 1, ga_off, gv_off, ys_off, xs_off,
        )
        iy.append(lower_i)
        fy.append(frac_y)
        jx.append(lower_j)
        fx.append(frac_x)
        ystart.append(np.searchsorted(lower_i, np.arange(vh + 1), side="left"))
        xstart.append(np.searchsorted(lower_j, np.arange(vw + 1), side="left"))
        tasks.append(np.stack([np.full(vh, index), np.arange(vh)], axis=1))
        row_off += level.rows
        ga_off += height * vw * features
        gv_off += 0 if level.dense else vh * vw * features
        ys_off += vh + 1
        xs_off += vw + 1
    return GridPlan(
        height=height,
        width=width,
        features=features,
        rows=tuple(level.rows for level in levels),
        meta=meta,
        iy=np.concatenate(iy).astype(np.int64),
        fy=np.concatenate(fy).astype(np.float32),
        jx=np.concatenate(jx).astype(np.int64),
        fx=np.concatenate(fx).astype(np.float32),
        ystart=np.concatenate(ystart).astype(np.int64),
        xstart=np.concatenate(xstart).astype(np.int64),
        tasks=np.concatenate(tasks).astype(np.int64),
        sizes=(ga_off, gv_off),
        **(_cubic_taps(levels, height, width, interpolation) if interpolation != BILINEAR
           else {}),
    )


@lru_cache(maxsize=32)
def grid_plan(
    levels: tuple[LevelGeometry, ...], height: int, width: int, features: int,
    interpolation: int = 0,
) -> GridPlan:
    """Memoised `_build_plan`: one plan per geometry the process meets."""
    return _build_plan(levels, height, width, features, interpolation)


class _NumbaLookup(torch.autograd.Function):
    """Autograd wrapper: tables in, (N, L*F) features out; backward returns table gradients."""

    @staticmethod
    def forward(ctx: Any, plan: GridPlan, pixels: torch.Tensor | None, *tables: torch.Tensor):
        width = plan.meta.shape[0] * plan.features
        p = plan
        if pixels is None and p.ty is not None:
            table = torch.cat(tables) if len(tables) > 1 else tables[0].contiguous()
            out = torch.empty(p.height * p.width, width, dtype=torch.float32)
            nc.forward_full(
                table.numpy(), p.meta, p.ty, p.wy, p.tx, p.wx, p.height, p.width, out.numpy()
            )
            # The backward treats the full image as a subset holding every pixel.
            everything = np.arange(p.height * p.width, dtype=np.int64)
            ctx.samples = (everything // p.width, everything % p.width)
        elif pixels is None:
            table = torch.cat(tables) if len(tables) > 1 else tables[0].contiguous()
            out = torch.empty(p.height * p.width, width, dtype=torch.float32)
            nk.forward_full(
                table.numpy(), p.meta, p.iy, p.fy, p.jx, p.fx, p.height, p.width, out.numpy()
            )
        elif p.ty is not None:
            out = torch.empty(pixels.shape[0], width, dtype=torch.float32)
            rows = np.empty(pixels.shape[0], dtype=np.int64)
            cols = np.empty(pixels.shape[0], dtype=np.int64)
            level_tables = tuple(t.detach().contiguous().numpy() for t in tables)
            nc.forward_subset(
                level_tables, p.meta, p.ty, p.wy, p.tx, p.wx, pixels.numpy(),
                p.height, p.width, out.numpy(), rows, cols,
            )
            ctx.samples = (rows, cols)
        else:
            out = torch.empty(pixels.shape[0], width, dtype=torch.float32)
            rows = np.empty(pixels.shape[0], dtype=np.int64)
            cols = np.empty(pixels.shape[0], dtype=np.int64)
            level_tables = tuple(t.detach().contiguous().numpy() for t in tables)
            nk.forward_subset(
                level_tables, p.meta, p.iy, p.fy, p.jx, p.fx, pixels.numpy(),
                p.height, p.width, out.numpy(), rows, cols,
            )
            ctx.samples = (rows, cols)
        ctx.plan = plan
        ctx.full = pixels is None and p.ty is None
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor):
        p: GridPlan = ctx.plan
        g = grad.to(torch.float32).contiguous().numpy()
        if ctx.full:
            grad_table = torch.zeros(sum(p.rows), p.features, dtype=torch.float32)
            nk.backward_full(
                g, p.meta, p.fy, p.fx, p.ystart, p.xstart, p.tasks, p.sizes,
                p.height, p.width, grad_table.numpy(),
            )
            return (None, None, *grad_table.split(list(p.rows)))
        rows, cols = ctx.samples
        grads = tuple(np.empty((r, p.features), dtype=np.float32) for r in p.rows)
        if p.ty is not None:
            nc.backward_subset(
                g, p.meta, p.ty, p.wy, p.tx, p.wx, rows, cols, p.height, p.width, grads
            )
        else:
            nk.backward_subset(
                g, p.meta, p.iy, p.fy, p.jx, p.fx, rows, cols, p.height, p.width, grads
            )
        return (None, None, *(torch.from_numpy(a) for a in grads))


def grid_features_fast(
    tables: Sequence[torch.Tensor],
    levels: Sequence[LevelGeometry],
    height: int,
    width: int,
    pixels: torch.Tensor | None = None,
    interpolation: int = 0,
) -> torch.Tensor:
    """Numba lookup for float32 CPU tables; anything else falls back to the reference."""
    if any(t.device.type != "cpu" or t.dtype != torch.float32 for t in tables):
        return grid_features_torch(tables, levels, height, width, pixels, interpolation)
    plan = grid_plan(tuple(levels), height, width, int(tables[0].shape[1]), interpolation)
    if pixels is not None:
        pixels = pixels.to(device="cpu", dtype=torch.int64).contiguous()
        if pixels.numel() and (int(pixels.min()) < 0 or int(pixels.max()) >= height * width):
            raise IndexError("pixel index outside the image")
    return _NumbaLookup.apply(plan, pixels, *tables)
