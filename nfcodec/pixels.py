"""Synthesis output to 8-bit samples, with every float32 value (NaN and infinities) defined."""

from __future__ import annotations

import numpy as np


def samples_to_uint8(values: np.ndarray) -> np.ndarray:
    """round(clamp(v, 0, 1) * 255), half to even; NaN -> 0, +inf -> 255, -inf -> 0 (SPEC §11).

    A plain clamp leaves NaN as NaN and its cast to uint8 is undefined behaviour, which differs
    between CPUs and libraries; defining it keeps every decoder's output identical.
    """
    finite = np.nan_to_num(np.asarray(values, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.rint(np.clip(finite, 0.0, 1.0) * np.float32(255.0)).astype(np.uint8)
