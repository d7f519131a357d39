"""Normative context rule of the latent entropy model (numpy; shared by encoder and decoder).

A latent on a spatial grid is coded under a Laplace whose scale class depends on the activity
of already-decoded neighbours in the rows above it (never in its own row, so a whole row decodes
in one vectorised call): A = |q[i-1,j-1]| + |q[i-1,j]| + |q[i-1,j+1]| (+ |q[i-2,j]| when two
context rows are used), zero outside the grid, mapped to one of NUM_CONTEXTS buckets.
"""

from __future__ import annotations

import numpy as np

NUM_CONTEXTS = 8
ACTIVITY_CAP = 15
# bucket of min(A, 15): fine steps where most latents are, coarse steps in the tail
BUCKET_OF_ACTIVITY = np.array([0, 1, 2, 3, 3, 4, 4, 5, 5, 5, 6, 6, 6, 6, 6, 7], dtype=np.int64)


def row_activity(above: np.ndarray, above2: np.ndarray | None, context_rows: int) -> np.ndarray:
    """Activity of one row from the integer rows above it (`above2` is None on the second row)."""
    mag = np.abs(above.astype(np.int64))
    if context_rows == 0:
        return np.zeros_like(mag)
    activity = mag.copy()
    activity[1:] += mag[:-1]
    activity[:-1] += mag[1:]
    if context_rows >= 2 and above2 is not None:
        activity += np.abs(above2.astype(np.int64))
    return activity


def buckets_from_activity(activity: np.ndarray) -> np.ndarray:
    return BUCKET_OF_ACTIVITY[np.minimum(activity, ACTIVITY_CAP)]


def grid_buckets(plane: np.ndarray, context_rows: int) -> np.ndarray:
    """Buckets of every entry of an integer (rows, cols) plane, as the decoder will see them.

    Vectorised over the whole plane (the encoder knows every row); the decoder computes the
    same values one row at a time with `row_activity`.
    """
    rows, cols = plane.shape
    if context_rows == 0 or rows < 2:
        return np.zeros((rows, cols), dtype=np.int64)
    mag = np.abs(plane.astype(np.int64))
    activity = np.zeros((rows, cols), dtype=np.int64)
    above = mag[:-1]
    activity[1:] = above
    activity[1:, 1:] += above[:, :-1]
    activity[1:, :-1] += above[:, 1:]
    if context_rows >= 2:
        activity[2:] += mag[:-2]
    return buckets_from_activity(activity)
