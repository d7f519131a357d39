"""Per-geometry plans for the numba grid kernels (numpy only, no torch).

The field calls the lookup thousands of times with one geometry, so everything that depends
only on (levels, height, width, features) is built once in a `GridPlan` and memoised; the
decoder uses the same plan for its one full-image lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from nfcodec.kernels import numba_grid as nk
from nfcodec.kernels.geometry import (
    LevelGeometry,
    cached_axis_samples,
    cached_four_tap_axis_samples,
)


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
    # Four-tap reading (format 2.1, `cubic_levels > 0`), else None: (L*H, 4) / (L*W, 4) vertex
    # taps and weights, and per level the first tap that weighs (0 cubic, 1 bilinear)
    ty: np.ndarray | None = None
    wy: np.ndarray | None = None
    tx: np.ndarray | None = None
    wx: np.ndarray | None = None
    first_tap: np.ndarray | None = None


def _four_taps(
    levels: tuple[LevelGeometry, ...], height: int, width: int, cubic_levels: int
) -> dict[str, np.ndarray]:
    """Per-level four-tap indices and weights, stacked level-major like the bilinear ones."""
    cubic = [index < cubic_levels for index in range(len(levels))]
    pairs = list(zip(levels, cubic, strict=True))
    ys = [cached_four_tap_axis_samples(height, g.cells_h, c) for g, c in pairs]
    xs = [cached_four_tap_axis_samples(width, g.cells_w, c) for g, c in pairs]
    return {
        "ty": np.concatenate([t for t, _ in ys]),
        "wy": np.concatenate([w for _, w in ys]),
        "tx": np.concatenate([t for t, _ in xs]),
        "wx": np.concatenate([w for _, w in xs]),
        "first_tap": np.array([0 if c else 1 for c in cubic], dtype=np.int64),
    }


def _build_plan(
    levels: tuple[LevelGeometry, ...], height: int, width: int, features: int,
    cubic_levels: int = 0,
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
        **(_four_taps(levels, height, width, cubic_levels) if cubic_levels else {}),
    )


@lru_cache(maxsize=32)
def grid_plan(
    levels: tuple[LevelGeometry, ...], height: int, width: int, features: int,
    cubic_levels: int = 0,
) -> GridPlan:
    """Memoised `_build_plan`: one plan per geometry the process meets."""
    return _build_plan(levels, height, width, features, cubic_levels)
