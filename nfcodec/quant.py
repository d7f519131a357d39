"""Float <-> integer symbols. Steps are powers of two, 2**-e, so dequantisation is exact."""

from __future__ import annotations

import numpy as np

MIN_STEP_EXPONENT = 0
MAX_STEP_EXPONENT = 20


def quantize(values: np.ndarray, step_exponent: int) -> np.ndarray:
    """Nearest multiple of 2**-e, as int32 symbols."""
    return np.rint(np.asarray(values, dtype=np.float64) * 2.0**step_exponent).astype(np.int32)


def dequantize(symbols: np.ndarray, step_exponent: int) -> np.ndarray:
    """Exact float32 values of symbols * 2**-e (exact while |symbol| < 2**24)."""
    return (np.asarray(symbols, dtype=np.float64) * 2.0**-step_exponent).astype(np.float32)
