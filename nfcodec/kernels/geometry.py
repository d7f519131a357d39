"""Normative grid geometry: level sizes, vertex indices and per-axis sample positions.

Everything here is integer arithmetic plus one float32 division per axis sample, so an
encoder and an independent decoder derive bit-identical indices and interpolation weights.
bitstream/SPEC.md section 10 is the specification this module implements.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

HASH_PRIME_I = 2654435761  # multiplier of the row coordinate; the column one is 1
_MASK32 = 0xFFFFFFFF

IntArray = TypeVar("IntArray", int, np.ndarray, "torch.Tensor")


@dataclass(frozen=True)
class LevelGeometry:
    """Cell counts of one grid level and the capacity of its feature table."""

    cells_h: int
    cells_w: int
    table_size: int

    @property
    def vertices(self) -> int:
        """Number of lattice vertices, (cells_h + 1) * (cells_w + 1)."""
        return (self.cells_h + 1) * (self.cells_w + 1)

    @property
    def dense(self) -> bool:
        """A level is dense when every vertex fits in the table without hashing."""
        return self.vertices <= self.table_size

    @property
    def rows(self) -> int:
        """Rows stored in the table: one per vertex if dense, else the full table size."""
        return self.vertices if self.dense else self.table_size


def _cells(resolution: int, side: int, longer: int) -> int:
    """Cells along one side: the resolution scaled by side/longer, rounded half up, at least 1."""
    return max(1, (resolution * side + longer // 2) // longer)


def level_geometry(
    height: int, width: int, resolution: int, log2_table_size: int
) -> LevelGeometry:
    """Geometry of a level with `resolution` cells along the image's longer side."""
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    if resolution < 1:
        raise ValueError(f"resolution must be positive, got {resolution}")
    if not 0 <= log2_table_size <= 32:
        raise ValueError(f"log2_table_size must be in [0, 32], got {log2_table_size}")
    longer = max(height, width)
    return LevelGeometry(
        cells_h=_cells(resolution, height, longer),
        cells_w=_cells(resolution, width, longer),
        table_size=1 << log2_table_size,
    )


def vertex_index(level: LevelGeometry, i: IntArray, j: IntArray) -> IntArray:
    """Table row of vertex (i, j): row-major when dense, spatial hash otherwise.

    Works on Python ints and on int64 numpy arrays or torch tensors (64 bits hold the product).
    """
    if level.dense:
        return i * (level.cells_w + 1) + j
    hashed = (j ^ (i * HASH_PRIME_I)) & _MASK32
    return hashed & (level.table_size - 1)


def axis_samples(pixels: int, cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Lower vertex index and float32 fraction of each pixel centre along one axis.

    Pixel p sits at (2p+1) * cells / (2 * pixels) cells; the integer part is the lower vertex
    and the remainder over 2*pixels, divided once in float32, is the interpolation fraction.
    """
    numer = (2 * np.arange(pixels, dtype=np.int64) + 1) * cells
    denom = 2 * pixels
    lower = numer // denom
    frac = (numer % denom).astype(np.float32) / np.float32(denom)
    return lower, frac.astype(np.float32, copy=False)


@lru_cache(maxsize=256)
def cached_axis_samples(pixels: int, cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Memoised `axis_samples`; the arrays are read-only because they are shared."""
    lower, frac = axis_samples(pixels, cells)
    lower.setflags(write=False)
    frac.setflags(write=False)
    return lower, frac


@lru_cache(maxsize=256)
def cached_vertex_table(level: LevelGeometry) -> np.ndarray:
    """Table row of every vertex, shape (cells_h + 1, cells_w + 1), read-only int64."""
    i = np.arange(level.cells_h + 1, dtype=np.int64)[:, None]
    j = np.arange(level.cells_w + 1, dtype=np.int64)[None, :]
    rows = vertex_index(level, i, j)
    rows = np.ascontiguousarray(np.broadcast_to(rows, (level.cells_h + 1, level.cells_w + 1)))
    rows.setflags(write=False)
    return rows


def lagrange_terms(t: Any) -> list[Any]:
    """Weights of vertices i-1, i, i+1, i+2 at fraction t, cubic Lagrange: a list of four.

    The basis through the four vertices (the k = 2 multi-sampling of the multiscale
    hash-encoding paper). Works on numpy float32 arrays (the normative binary32 evaluation,
    left to right as written) and on torch tensors (flow, which differentiates in t).
    """
    before, after, twice = t + 1.0, t - 1.0, t - 2.0
    return [
        -((t * after) * twice) / 6.0,
        ((before * after) * twice) / 2.0,
        -((before * t) * twice) / 2.0,
        ((before * t) * after) / 6.0,
    ]


def _float32_weights(terms: Callable[[Any], list[Any]], t: np.ndarray) -> np.ndarray:
    """(N, 4) float32 weights, every operation in binary32 (numpy keeps float32 scalars)."""
    t = np.asarray(t, dtype=np.float32)
    columns = [np.asarray(c, dtype=np.float32) for c in terms(t)]
    return np.stack(columns, axis=1)


def lagrange_weights(t: np.ndarray) -> np.ndarray:
    """(N, 4) float32 cubic Lagrange weights at fractions t in [0, 1)."""
    return _float32_weights(lagrange_terms, t)


def linear_terms(t: Any) -> list[Any]:
    """Bilinear's weights on the same four taps: the outer two are zero."""
    return [t * 0.0, 1.0 - t, t, t * 0.0]


def four_tap_axis_samples(
    pixels: int, cells: int, cubic: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Four vertex indices (clamped to [0, cells]) and their float32 weights per pixel.

    The pixel's lower vertex and fraction are `axis_samples`'s; the taps are that vertex's
    neighbours -1 .. +2 and a tap outside the grid reads the edge vertex. Weights are cubic
    Lagrange, or with `cubic` false bilinear's (only taps 1 and 2 weigh).
    """
    lower, frac = axis_samples(pixels, cells)
    taps = np.clip(lower[:, None] + np.arange(-1, 3, dtype=np.int64)[None, :], 0, cells)
    return taps, _float32_weights(lagrange_terms if cubic else linear_terms, frac)


@lru_cache(maxsize=256)
def cached_four_tap_axis_samples(
    pixels: int, cells: int, cubic: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Memoised `four_tap_axis_samples`; read-only arrays."""
    taps, weights = four_tap_axis_samples(pixels, cells, cubic)
    taps.setflags(write=False)
    weights.setflags(write=False)
    return taps, weights
