"""Numba CPU kernels for the grid lookup and its backward.

`meta` holds one row per level (see `META_*`). Two code paths:

* full image (the decoder): all levels' tables concatenated into one (R, F) float32 array,
  read separably. For each pixel row y the two vertex rows it touches are blended
  once into a row buffer, then every pixel of the row blends two adjacent buffer entries.
  The backward mirrors it in three race-free passes: per pixel row (parallel over y), per
  vertex row (parallel over vertex rows, each gathers the pixel rows that touch it) and, for
  hashed levels only, a scatter into the table (parallel over levels).
* pixel subset (training): a tuple of per-level (rows, F) float32 arrays, read and written
  in place (no per-step copy of every latent). Fused gather of four corners per sample and
  level, chunks of samples in parallel; the backward scatters per level into per-level
  gradient arrays, levels spread over threads so no two threads write the same table.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

# Columns of the per-level `meta` array (int64).
META_CELLS_H = 0
META_CELLS_W = 1
META_ROW_OFFSET = 2  # first row of this level in the concatenated table
META_HASHED = 3  # 1 when the level is hashed
META_MASK = 4  # table_size - 1 (used when hashed)
META_GA_OFFSET = 5  # start of this level in the flat per-pixel-row gradient buffer
META_GV_OFFSET = 6  # start of this level in the flat vertex gradient buffer (hashed only)
META_YSTART_OFFSET = 7  # start of this level in `ystart`
META_XSTART_OFFSET = 8  # start of this level in `xstart`
META_COLUMNS = 9

HASH_PRIME_I = 2654435761


@njit(inline="always")
def _row(meta: np.ndarray, level: int, i: int, j: int) -> int:
    """Concatenated-table row of vertex (i, j) of `level` (dense or hashed)."""
    if meta[level, META_HASHED]:
        local = (j ^ (i * HASH_PRIME_I)) & meta[level, META_MASK]
    else:
        local = i * (meta[level, META_CELLS_W] + 1) + j
    return meta[level, META_ROW_OFFSET] + local


@njit(parallel=True, cache=True)
def forward_full(
    table: np.ndarray,
    meta: np.ndarray,
    iy: np.ndarray,
    fy: np.ndarray,
    jx: np.ndarray,
    fx: np.ndarray,
    height: int,
    width: int,
    out: np.ndarray,
) -> None:
    """Fill out (H*W, L*F) for every pixel, one pixel row per parallel iteration."""
    levels = meta.shape[0]
    nfeat = table.shape[1]
    max_vw = 0
    for level in range(levels):
        max_vw = max(max_vw, meta[level, META_CELLS_W] + 1)
    for y in prange(height):
        buf = np.empty((max_vw, nfeat), dtype=np.float32)
        for level in range(levels):
            vw = meta[level, META_CELLS_W] + 1
            i = iy[level * height + y]
            wy1 = fy[level * height + y]
            wy0 = np.float32(1.0) - wy1
            for j in range(vw):
                r0 = _row(meta, level, i, j)
                r1 = _row(meta, level, i + 1, j)
                for c in range(nfeat):
                    buf[j, c] = wy0 * table[r0, c] + wy1 * table[r1, c]
            base = level * nfeat
            for x in range(width):
                j = jx[level * width + x]
                wx1 = fx[level * width + x]
                wx0 = np.float32(1.0) - wx1
                p = y * width + x
                for c in range(nfeat):
                    out[p, base + c] = wx0 * buf[j, c] + wx1 * buf[j + 1, c]


@njit(parallel=True, cache=True)
def _backward_pixel_rows(
    grad: np.ndarray, meta: np.ndarray, fx: np.ndarray, xstart: np.ndarray,
    height: int, width: int, grad_rows: np.ndarray,
) -> None:
    """Pass 1: per pixel row y and level, the gradient of the blended row buffer.

    Pixel columns are sorted by their lower vertex column, so each vertex column sums one
    contiguous run of pixels in registers (plus the carry from the run before it).
    """
    levels = meta.shape[0]
    nfeat = grad.shape[1] // levels
    for y in prange(height):
        p0 = y * width
        for level in range(levels):
            vw = meta[level, META_CELLS_W] + 1
            start = meta[level, META_GA_OFFSET] + y * vw * nfeat
            xs = meta[level, META_XSTART_OFFSET]
            col = level * nfeat
            for c in range(nfeat):
                carry = np.float32(0.0)
                for j in range(vw):
                    low = carry
                    high = np.float32(0.0)
                    for x in range(xstart[xs + j], xstart[xs + j + 1]):
                        g = grad[p0 + x, col + c]
                        w1 = fx[level * width + x]
                        high += w1 * g
                        low += (np.float32(1.0) - w1) * g
                    grad_rows[start + j * nfeat + c] = low
                    carry = high


@njit(parallel=True, cache=True)
def _backward_vertex_rows(
    grad_rows: np.ndarray, meta: np.ndarray, fy: np.ndarray, ystart: np.ndarray,
    tasks: np.ndarray, height: int, grad_table: np.ndarray, grad_vertices: np.ndarray,
) -> None:
    """Pass 2: each vertex row gathers the pixel rows that touch it (no write conflicts).

    Dense levels write straight into the table gradient; hashed ones into a vertex buffer.
    """
    nfeat = grad_table.shape[1]
    for t in prange(tasks.shape[0]):
        level = tasks[t, 0]
        i = tasks[t, 1]
        vw = meta[level, META_CELLS_W] + 1
        acc = np.zeros(vw * nfeat, dtype=np.float32)
        ys = meta[level, META_YSTART_OFFSET]
        ga = meta[level, META_GA_OFFSET]
        # rows whose lower vertex row is i - 1 reach row i with weight fy
        if i > 0:
            for y in range(ystart[ys + i - 1], ystart[ys + i]):
                w = fy[level * height + y]
                src = ga + y * vw * nfeat
                for k in range(vw * nfeat):
                    acc[k] += w * grad_rows[src + k]
        # rows whose lower vertex row is i reach it with weight 1 - fy
        for y in range(ystart[ys + i], ystart[ys + i + 1]):
            w = np.float32(1.0) - fy[level * height + y]
            src = ga + y * vw * nfeat
            for k in range(vw * nfeat):
                acc[k] += w * grad_rows[src + k]
        if meta[level, META_HASHED]:
            dst = meta[level, META_GV_OFFSET] + i * vw * nfeat
            for k in range(vw * nfeat):
                grad_vertices[dst + k] = acc[k]
        else:
            row = meta[level, META_ROW_OFFSET] + i * vw
            for j in range(vw):
                for c in range(nfeat):
                    grad_table[row + j, c] = acc[j * nfeat + c]


@njit(parallel=True, cache=True)
def _scatter_hashed(
    grad_vertices: np.ndarray, meta: np.ndarray, grad_table: np.ndarray
) -> None:
    """Pass 3: hashed levels add their vertex gradients into table rows, one level a thread."""
    levels = meta.shape[0]
    nfeat = grad_table.shape[1]
    for level in prange(levels):
        if not meta[level, META_HASHED]:
            continue
        vh = meta[level, META_CELLS_H] + 1
        vw = meta[level, META_CELLS_W] + 1
        src = meta[level, META_GV_OFFSET]
        for i in range(vh):
            for j in range(vw):
                r = _row(meta, level, i, j)
                k = src + (i * vw + j) * nfeat
                for c in range(nfeat):
                    grad_table[r, c] += grad_vertices[k + c]


def backward_full(
    grad: np.ndarray, meta: np.ndarray, fy: np.ndarray, fx: np.ndarray, ystart: np.ndarray,
    xstart: np.ndarray, tasks: np.ndarray, sizes: tuple[int, int], height: int, width: int,
    grad_table: np.ndarray,
) -> None:
    """Table gradient of `forward_full`; `sizes` = (row-buffer floats, vertex-buffer floats).

    `grad_table` must be zero on hashed levels' rows; dense rows are fully overwritten.
    """
    grad_rows = np.empty(sizes[0], dtype=np.float32)
    grad_vertices = np.empty(max(sizes[1], 1), dtype=np.float32)
    _backward_pixel_rows(grad, meta, fx, xstart, height, width, grad_rows)
    _backward_vertex_rows(grad_rows, meta, fy, ystart, tasks, height, grad_table, grad_vertices)
    if sizes[1]:
        _scatter_hashed(grad_vertices, meta, grad_table)


SUBSET_CHUNK = 512  # samples per parallel task in `forward_subset`


@njit(inline="always")
def _cell(
    i: int, j: int, wy1: np.float32, wx1: np.float32, vw: int, hashed: bool, mask: int,
) -> tuple:
    """Rows of cell (i, j)'s four corners in its level's own table (lower row first) and their
    bilinear weights.

    Takes the level's constants as scalars so the sample loops hold them in registers; numba
    cannot prove the output stores leave `meta` unchanged, so reading it per corner reloads.
    """
    if hashed:
        h0 = i * HASH_PRIME_I
        h1 = (i + 1) * HASH_PRIME_I
        r00 = (j ^ h0) & mask
        r01 = ((j + 1) ^ h0) & mask
        r10 = (j ^ h1) & mask
        r11 = ((j + 1) ^ h1) & mask
    else:
        r00 = i * vw + j
        r01 = r00 + 1
        r10 = r00 + vw
        r11 = r10 + 1
    wy0 = np.float32(1.0) - wy1
    wx0 = np.float32(1.0) - wx1
    return r00, r01, r10, r11, wy0 * wx0, wy0 * wx1, wy1 * wx0, wy1 * wx1


@njit(inline="always")
def _level_constants(meta: np.ndarray, level: int) -> tuple:
    """(vertex columns, hashed, mask) of `level`, read once for `_cell`'s loops."""
    return (
        meta[level, META_CELLS_W] + 1,
        meta[level, META_HASHED] != 0,
        meta[level, META_MASK],
    )


@njit(parallel=True, cache=True)
def forward_subset(
    tables: tuple, meta: np.ndarray, iy: np.ndarray, fy: np.ndarray, jx: np.ndarray,
    fx: np.ndarray, pixels: np.ndarray, height: int, width: int, out: np.ndarray,
    ys: np.ndarray, xs: np.ndarray,
) -> None:
    """Fill out (N, L*F) for the flat pixel indices `pixels`; ys, xs (N,) receive their rows
    and columns for `backward_subset`.

    `tables` holds one C-contiguous (rows, F) float32 array per level: unlike the full-image
    path, a training step's forward reads the levels in place instead of concatenating them
    (a copy of every latent, each step). Work goes out in chunks of samples; inside a chunk
    the loop runs level by level, so one level's constants and axis samples stay in registers
    and cache across the chunk. The integer division splitting each index into (y, x) happens
    once per sample, not per level.
    """
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
            ly = level * height
            lx = level * width
            col = level * nfeat
            for n in range(lo, hi):
                y = ys[n]
                x = xs[n]
                r00, r01, r10, r11, w00, w01, w10, w11 = _cell(
                    iy[ly + y], jx[lx + x], fy[ly + y], fx[lx + x], vw, hashed, mask
                )
                for c in range(nfeat):
                    out[n, col + c] = (
                        w00 * table[r00, c] + w01 * table[r01, c]
                        + w10 * table[r10, c] + w11 * table[r11, c]
                    )


@njit(inline="always")
def _scatter_level(
    grad: np.ndarray, meta: np.ndarray, iy: np.ndarray, fy: np.ndarray, jx: np.ndarray,
    fx: np.ndarray, ys: np.ndarray, xs: np.ndarray, height: int, width: int,
    grad_table: np.ndarray, level: int,
) -> None:
    """Zero `level`'s gradient table, then scatter-add its share of `backward_subset`, samples
    in order. Zeroing here, on the thread that scatters next, replaces a serial pass over all
    tables and leaves the rows in that thread's cache."""
    nfeat = grad_table.shape[1]
    grad_table[:] = 0.0
    vw, hashed, mask = _level_constants(meta, level)
    ly = level * height
    lx = level * width
    col = level * nfeat
    for n in range(ys.shape[0]):
        y = ys[n]
        x = xs[n]
        r00, r01, r10, r11, w00, w01, w10, w11 = _cell(
            iy[ly + y], jx[lx + x], fy[ly + y], fx[lx + x], vw, hashed, mask
        )
        for c in range(nfeat):
            g = grad[n, col + c]
            grad_table[r00, c] += w00 * g
            grad_table[r01, c] += w01 * g
            grad_table[r10, c] += w10 * g
            grad_table[r11, c] += w11 * g


@njit(parallel=True, cache=True)
def _backward_subset_levels(
    grad: np.ndarray, meta: np.ndarray, iy: np.ndarray, fy: np.ndarray, jx: np.ndarray,
    fx: np.ndarray, ys: np.ndarray, xs: np.ndarray, height: int, width: int,
    grad_tables: tuple,
) -> None:
    """One level per parallel task, finest first; see `backward_subset`."""
    levels = meta.shape[0]
    for task in prange(levels):
        level = levels - 1 - task
        _scatter_level(
            grad, meta, iy, fy, jx, fx, ys, xs, height, width, grad_tables[level], level
        )


def backward_subset(
    grad: np.ndarray, meta: np.ndarray, iy: np.ndarray, fy: np.ndarray, jx: np.ndarray,
    fx: np.ndarray, ys: np.ndarray, xs: np.ndarray, height: int, width: int,
    grad_tables: tuple,
) -> None:
    """Write the gradient of `forward_subset` into `grad_tables`, one (rows, F) float32 array
    per level (contents on entry do not matter: each is zeroed by the thread that fills it).

    `ys`, `xs` are the sample rows and columns `forward_subset` wrote. One level per task, so
    no two threads write the same table. Levels differ in cost (fine ones miss cache), and
    prange's default equal chunks gave one thread all the fine levels; chunks of one level
    handed out as threads free up, finest first, balance them. Each level still accumulates
    in sample order on one thread, so results do not depend on the thread count.
    """
    previous = numba.set_parallel_chunksize(1)
    try:
        _backward_subset_levels(
            grad, meta, iy, fy, jx, fx, ys, xs, height, width, grad_tables
        )
    finally:
        numba.set_parallel_chunksize(previous)
