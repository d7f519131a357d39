"""Normative grid geometry: level sizes, vertex indices and per-axis sample positions.

Everything here is integer arithmetic plus one float32 division per axis sample, so an
encoder and an independent decoder derive bit-identical indices and interpolation weights.
bitstream/SPEC.md section 10 is the specification this module implements.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, TypeVar

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
