"""Multi-resolution grid lookup (gather + bilinear interpolation) for the hashgrid field.

    level_geometry(height, width, resolution, log2_table_size) -> LevelGeometry
    grid_features(tables, levels, height, width, *, pixels=None, backend="auto",
                  cubic_levels=0) -> (N, L*F)

With `cubic_levels = 0` every level is read bilinearly (2x2 vertices, format 2.0 and older);
otherwise the coarsest `cubic_levels` levels are read by cubic Lagrange (4x4 vertices) and the
others bilinearly, all in the separable order of format 2.1 (SPEC section 10.5).

Importing this package does not import torch (the decoder uses its numpy parts); the torch
backends load on first use.

Backends: "torch" is the naive reference, "fast" the fastest CPU path (numba), "separable"
a torch-only full-image path (any device), "auto" picks "fast" for CPU float32 tensors and
"torch" elsewhere. All agree to float32 rounding (~1e-6).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from nfcodec.kernels.geometry import LevelGeometry, level_geometry

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["LevelGeometry", "level_geometry", "grid_features", "BACKENDS"]

BACKENDS = ("auto", "torch", "fast", "separable")


def _check(
    tables: Sequence[torch.Tensor], levels: Sequence[LevelGeometry], height: int, width: int
) -> None:
    """Reject mismatched tables early: a wrong shape would otherwise gather garbage rows."""
    if len(tables) != len(levels) or not tables:
        raise ValueError(f"need one table per level, got {len(tables)} for {len(levels)}")
    features = tables[0].shape[1]
    for table, level in zip(tables, levels, strict=True):
        if table.dim() != 2 or table.shape != (level.rows, features):
            raise ValueError(f"table shape {tuple(table.shape)} != ({level.rows}, {features})")
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {height}x{width}")


def grid_features(
    tables: Sequence[torch.Tensor],
    levels: Sequence[LevelGeometry],
    height: int,
    width: int,
    *,
    pixels: torch.Tensor | None = None,
    backend: str = "auto",
    cubic_levels: int = 0,
) -> torch.Tensor:
    """Interpolated features of every pixel (or of flat indices `pixels`), shape (N, L*F).

    Column l*F + f holds feature f of level l; differentiable with respect to `tables`.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
    _check(tables, levels, height, width)
    import torch

    if backend == "auto":
        on_cpu = all(t.device.type == "cpu" for t in tables)
        backend = "fast" if on_cpu and tables[0].dtype == torch.float32 else "torch"
    if backend == "torch" or (backend == "separable" and cubic_levels):
        from nfcodec.kernels.reference import grid_features_torch

        return grid_features_torch(tables, levels, height, width, pixels, cubic_levels)
    if backend == "separable":
        from nfcodec.kernels.separable import grid_features_separable

        return grid_features_separable(tables, levels, height, width, pixels)
    from nfcodec.kernels.fast import grid_features_fast

    return grid_features_fast(tables, levels, height, width, pixels, cubic_levels)
