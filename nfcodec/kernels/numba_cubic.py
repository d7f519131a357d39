"""Numba CPU kernels for format 2.1's four-tap grid lookup and its backward.

Each axis sample carries four clamped vertex indices and four float32 weights (see
`geometry.four_tap_axis_samples`). A cubic level reads all four taps per axis; a bilinear
level only taps 1 and 2 (`first_tap` 1), since the others weigh exactly zero. Every path
evaluates the order the format specifies: along y first (per column, the rows summed in
order), then along x (the column values summed in order), so the decoder's full-image pass
and training's pixel-subset pass give bit-identical features.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from nfcodec.kernels.numba_grid import (
    HASH_PRIME_I,
    META_ROW_OFFSET,
    SUBSET_CHUNK,
    _level_constants,
)

TAPS = 4


@njit(inline="always")
def _local_row(i: int, j: int, vw: int, hashed: bool, mask: int) -> int:
    """Row of vertex (i, j) in its level's own table."""
    if hashed:
        return (j ^ (i * HASH_PRIME_I)) & mask
    return i * vw + j


@njit(parallel=True, cache=True)
def forward_full(
    table: np.ndarray, meta: np.ndarray, ty: np.ndarray, wy: np.ndarray, tx: np.ndarray,
    wx: np.ndarray, first_tap: np.ndarray, height: int, width: int, out: np.ndarray,
) -> None:
    """Fill out (H*W, L*F) for every pixel from the concatenated table; a pixel row per task.

    For each pixel row the four vertex rows are blended once into a row buffer per vertex
    column, then each pixel blends four buffer entries.
    """
    levels = meta.shape[0]
    nfeat = table.shape[1]
    max_vw = 0
    for level in range(levels):
        max_vw = max(max_vw, _level_constants(meta, level)[0])
    for y in prange(height):
        buf = np.empty((max_vw, nfeat), dtype=np.float32)
        for level in range(levels):
            vw, hashed, mask = _level_constants(meta, level)
            offset = meta[level, META_ROW_OFFSET]
            lo = first_tap[level]
            hi = TAPS - lo
            ly = level * height + y
            for j in range(vw):
                for c in range(nfeat):
                    acc = np.float32(0.0)
                    for a in range(lo, hi):
                        row = offset + _local_row(ty[ly, a], j, vw, hashed, mask)
                        acc += wy[ly, a] * table[row, c]
                    buf[j, c] = acc
            base = level * nfeat
            for x in range(width):
                lx = level * width + x
                p = y * width + x
                for c in range(nfeat):
                    acc = np.float32(0.0)
                    for b in range(lo, hi):
                        acc += wx[lx, b] * buf[tx[lx, b], c]
                    out[p, base + c] = acc


@njit(parallel=True, cache=True)
def forward_subset(
    tables: tuple, meta: np.ndarray, ty: np.ndarray, wy: np.ndarray, tx: np.ndarray,
    wx: np.ndarray, first_tap: np.ndarray, pixels: np.ndarray, height: int, width: int,
    out: np.ndarray, ys: np.ndarray, xs: np.ndarray,
) -> None:
    """Fill out (N, L*F) for flat pixel indices; ys, xs receive their rows and columns."""
    levels = meta.shape[0]
    nfeat = tables[0].shape[1]
    total = pixels.shape[0]
    for chunk in prange((total + SUBSET_CHUNK - 1) // SUBSET_CHUNK):
        lo = chunk * SUBSET_CHUNK
        hi = min(total, lo + SUBSET_CHUNK)
        for n in range(lo, hi):
            y = pixels[n] // width
            ys[n] = y
            xs[n] = pixels[n] - y * width
        for level in range(levels):
            table = tables[level]
            vw, hashed, mask = _level_constants(meta, level)
            col = level * nfeat
            t0 = first_tap[level]
            t1 = TAPS - t0
            for n in range(lo, hi):
                ly = level * height + ys[n]
                lx = level * width + xs[n]
                for c in range(nfeat):
                    acc = np.float32(0.0)
                    for b in range(t0, t1):
                        column = np.float32(0.0)
                        for a in range(t0, t1):
                            row = _local_row(ty[ly, a], tx[lx, b], vw, hashed, mask)
                            column += wy[ly, a] * table[row, c]
                        acc += wx[lx, b] * column
                    out[n, col + c] = acc


@njit(parallel=True, cache=True)
def _backward_levels(
    grad: np.ndarray, meta: np.ndarray, ty: np.ndarray, wy: np.ndarray, tx: np.ndarray,
    wx: np.ndarray, first_tap: np.ndarray, ys: np.ndarray, xs: np.ndarray, height: int,
    width: int, grad_tables: tuple,
) -> None:
    """One level per task, finest first, samples in order: no two threads share a table."""
    levels = meta.shape[0]
    for task in prange(levels):
        level = levels - 1 - task
        grad_table = grad_tables[level]
        nfeat = grad_table.shape[1]
        grad_table[:] = 0.0
        vw, hashed, mask = _level_constants(meta, level)
        col = level * nfeat
        t0 = first_tap[level]
        t1 = TAPS - t0
        for n in range(ys.shape[0]):
            ly = level * height + ys[n]
            lx = level * width + xs[n]
            for c in range(nfeat):
                g = grad[n, col + c]
                for b in range(t0, t1):
                    gb = wx[lx, b] * g
                    for a in range(t0, t1):
                        row = _local_row(ty[ly, a], tx[lx, b], vw, hashed, mask)
                        grad_table[row, c] += wy[ly, a] * gb


def backward_subset(
    grad: np.ndarray, meta: np.ndarray, ty: np.ndarray, wy: np.ndarray, tx: np.ndarray,
    wx: np.ndarray, first_tap: np.ndarray, ys: np.ndarray, xs: np.ndarray, height: int,
    width: int, grad_tables: tuple,
) -> None:
    """Write the gradient of the lookup at samples (ys, xs) into `grad_tables` (zeroed here)."""
    previous = numba.set_parallel_chunksize(1)
    try:
        _backward_levels(
            grad, meta, ty, wy, tx, wx, first_tap, ys, xs, height, width, grad_tables
        )
    finally:
        numba.set_parallel_chunksize(previous)
