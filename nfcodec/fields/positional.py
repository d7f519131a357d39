"""Pixel positions as network inputs: the positional encoding and the LoE weight-tile taps.

numpy and numba only, shared by the encoder (torch fields call these and wrap the arrays) and
the decoder, so both see the same bits (bitstream/SPEC.md section 11, "Coordinate fields").
Positions are measured along the image's longer side S, so cells and frequencies are isotropic:
pixel (i, j) sits at p = ((j + 0.5) / S, (i + 0.5) / S) in [0, 1]^2.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from nfcodec.container.spec import TileLayout, TileSelection


def encoding_width(octaves: int) -> int:
    """Inputs per pixel: the two coordinates, then sin and cos of both at each octave."""
    return 2 + 4 * octaves


@njit(cache=True)
def _encode_kernel(
    pixels: np.ndarray, width: int, side: int, octaves: int, out: np.ndarray
) -> None:
    for n in range(pixels.size):
        row = pixels[n] // width
        col = pixels[n] - row * width
        u = np.float64(2 * col + 1 - side) / np.float64(side)
        v = np.float64(2 * row + 1 - side) / np.float64(side)
        out[n, 0] = np.float32(u)
        out[n, 1] = np.float32(v)
        for k in range(octaves):
            frequency = np.float64(2.0**k) * math.pi  # exact: a power of two times pi
            a = frequency * u
            b = frequency * v
            out[n, 2 + 4 * k] = np.float32(math.sin(a))
            out[n, 3 + 4 * k] = np.float32(math.sin(b))
            out[n, 4 + 4 * k] = np.float32(math.cos(a))
            out[n, 5 + 4 * k] = np.float32(math.cos(b))


def positional_encoding(
    pixels: np.ndarray, height: int, width: int, octaves: int
) -> np.ndarray:
    """float32 (N, 2 + 4 * octaves) inputs of the row-major pixel indices `pixels`.

    Coordinates u = (2j + 1 - S) / S and v = (2i + 1 - S) / S lie in (-1, 1) (NeRF's range,
    Mildenhall et al. 2020), then sin(2^k pi u), sin(2^k pi v), cos(2^k pi u), cos(2^k pi v)
    for k = 0 .. octaves - 1, each evaluated in float64 and rounded once to float32.
    """
    flat = np.ascontiguousarray(pixels, dtype=np.int64).reshape(-1)
    out = np.empty((flat.size, encoding_width(octaves)), dtype=np.float32)
    _encode_kernel(flat, width, max(height, width), octaves, out)
    return out


def tile_scales(tiled_layers: int, coarsest_log2: int, layout: int) -> list[int]:
    """log2 of the cells per side of each tiled layer's weight grid, first layer first."""
    scales = [coarsest_log2 + k for k in range(tiled_layers)]
    return scales if layout == TileLayout.COARSE_TO_FINE else scales[::-1]


def tile_taps(
    pixels: np.ndarray, width: int, side: int, scale: int, tile: int, selection: int
) -> tuple[np.ndarray, np.ndarray]:
    """Which tile matrices each pixel reads in a layer with 2**scale cells a side, and how much.

    Returns (taps (N, K) int64 in [0, tile**2), blend (N, K) float32): K = 1 (weight 1) for
    nearest selection, K = 4 for bilinear, taps ordered (y0 x0, y0 x1, y1 x0, y1 x1). Cell
    (cy, cx) uses matrix (cy mod tile) * tile + (cx mod tile): the LoE supplement's eq. (7)-(8)
    with A = 2**scale I, b = 0 (Hao et al., NeurIPS 2022). All integer arithmetic.
    """
    flat = np.ascontiguousarray(pixels, dtype=np.int64).reshape(-1)
    rows, cols = np.divmod(flat, width)
    denominator = 2 * side
    if selection == TileSelection.NEAREST:
        cy = ((2 * rows + 1) << scale) // denominator
        cx = ((2 * cols + 1) << scale) // denominator
        taps = ((cy % tile) * tile + cx % tile)[:, None]
        return taps, np.ones((flat.size, 1), dtype=np.float32)
    # bilinear: cell centres at integer grid positions, x = p * 2**scale - 0.5
    ny = ((2 * rows + 1) << scale) - side
    nx = ((2 * cols + 1) << scale) - side
    cy, ry = np.divmod(ny, denominator)
    cx, rx = np.divmod(nx, denominator)
    taps = np.empty((flat.size, 4), dtype=np.int64)
    numerators = np.empty((flat.size, 4), dtype=np.int64)
    for k, (dy, dx) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        taps[:, k] = ((cy + dy) % tile) * tile + (cx + dx) % tile
        wy = ry if dy else denominator - ry
        wx = rx if dx else denominator - rx
        numerators[:, k] = wy * wx
    blend = (numerators.astype(np.float64) / float(denominator * denominator)).astype(np.float32)
    return taps, blend
