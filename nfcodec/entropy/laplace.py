"""The normative Laplace scale table and encoder-side cost estimates for choosing scale classes.

The decoder only ever sees a class index (an integer); the float scale it stands for comes
from `SCALES`, which is built from exact binary constants so every platform gets the same bits.
The cost functions below are encoder-only heuristics: they may use any float maths because
they only influence *which* class the encoder writes, never how a stream is decoded.
"""

from __future__ import annotations

import math

import numpy as np

from nfcodec.errors import InputError

NUM_SCALE_CLASSES = 64
SCALE_CLASS_OFFSET = 24  # class whose scale is exactly 1.0
MAX_SYMBOL_BITS = 24.0  # constriction's quantizer gives every in-range symbol >= 2**-24 mass

# Correctly rounded float64 values of 2 ** (r / 4) for r = 0..3, written as exact hex literals
# so the table never depends on a platform's pow() or exp2().
_QUARTER_MANTISSAS = (
    float.fromhex("0x1.0000000000000p+0"),
    float.fromhex("0x1.306fe0a31b715p+0"),
    float.fromhex("0x1.6a09e667f3bcdp+0"),
    float.fromhex("0x1.ae89f995ad3adp+0"),
)


def _build_scales() -> np.ndarray:
    """SCALES[k] = 2 ** ((k - 24) / 4), as mantissa * 2**exponent (ldexp is exact)."""
    values = []
    for k in range(NUM_SCALE_CLASSES):
        whole, quarter = divmod(k - SCALE_CLASS_OFFSET, 4)
        values.append(math.ldexp(_QUARTER_MANTISSAS[quarter], whole))
    table = np.array(values, dtype=np.float64)
    table.flags.writeable = False
    return table


SCALES: np.ndarray = _build_scales()

_LOG2E = 1.0 / math.log(2.0)


def _cost_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class terms of -log2 P(x) for the unbounded quantized Laplace with mean 0.

    P(0) = 1 - exp(-1/(2b));  P(x) = exp(-|x|/b) * sinh(1/(2b)) for x != 0.
    Returns (cost of 0, intercept for x != 0, slope per unit |x|), all in bits.
    """
    half_inv = 0.5 / SCALES
    zero_cost = -np.log2(-np.expm1(-half_inv))
    log_sinh = half_inv + np.log1p(-np.exp(-2.0 * half_inv)) - math.log(2.0)
    intercept = -log_sinh * _LOG2E
    slope = _LOG2E / SCALES
    return zero_cost, intercept, slope


_ZERO_COST, _INTERCEPT, _SLOPE = _cost_tables()
_MAGNITUDE_CAP = 1 << 20
_CHUNK = 1 << 15  # unique values costed at a time, bounds the (chunk x 64) work matrix


def nearest_class(scale: float) -> int:
    """Class whose scale is nearest to `scale` on a log axis (clamped to the table)."""
    value = float(scale)
    if math.isnan(value):
        raise InputError("scale must be a number, got NaN")
    if value <= 0.0:
        return 0
    position = 4.0 * math.log2(value) + SCALE_CLASS_OFFSET
    if position >= NUM_SCALE_CLASSES - 1:
        return NUM_SCALE_CLASSES - 1
    return max(0, math.floor(position + 0.5))


def as_class_array(classes: np.ndarray | int, count: int) -> np.ndarray | int:
    """Validate caller classes: an int, or an integer array of length `count`, all in range.

    Returns a plain int or a flat integer array; raises ValueError (callers re-raise as
    their own error type) so the encoder and decoder can report it differently.
    """
    if isinstance(classes, (int, np.integer)) and not isinstance(classes, bool):
        value = int(classes)
        if not 0 <= value < NUM_SCALE_CLASSES:
            raise ValueError(f"scale class {value} outside [0, {NUM_SCALE_CLASSES})")
        return value
    array = np.asarray(classes)
    if array.dtype.kind not in "iu":
        raise ValueError(f"scale classes must be integers, got dtype {array.dtype}")
    array = array.reshape(-1)
    if array.size != count:
        raise ValueError(f"got {array.size} scale classes for {count} symbols")
    if array.size and (int(array.min()) < 0 or int(array.max()) >= NUM_SCALE_CLASSES):
        raise ValueError(f"scale classes must lie in [0, {NUM_SCALE_CLASSES})")
    return array


def _magnitudes(symbols: np.ndarray) -> np.ndarray:
    """Flat int64 |symbols|, clipped where every class already costs the 24-bit cap.

    Clipping keeps abs() and the context keys below from overflowing on any integer dtype
    without changing a single cost: even the widest scale charges 24 bits beyond ~8000.
    """
    array = np.asarray(symbols)
    if array.size and array.dtype.kind not in "iu":
        raise InputError(f"symbols must be integers, got dtype {array.dtype}")
    array = array.reshape(-1)
    if array.dtype.kind == "u":
        clipped = np.minimum(array, _MAGNITUDE_CAP)
    else:
        clipped = np.clip(array, -_MAGNITUDE_CAP, _MAGNITUDE_CAP)
    return np.abs(clipped.astype(np.int64))


def _costs(magnitudes: np.ndarray, classes: np.ndarray | int) -> np.ndarray:
    """Bits per symbol for |x| under the given classes (broadcasting), capped at 24 bits."""
    tail = _INTERCEPT[classes] + _SLOPE[classes] * magnitudes
    bits = np.where(magnitudes == 0, _ZERO_COST[classes], tail)
    return np.minimum(bits, MAX_SYMBOL_BITS)


def laplace_bits(symbols: np.ndarray, classes: np.ndarray | int) -> float:
    """Approximate coded size in bits of `symbols` under zero-mean Laplace classes."""
    magnitudes = _magnitudes(symbols).astype(np.float64)
    try:
        checked = as_class_array(classes, magnitudes.size)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    if magnitudes.size == 0:
        return 0.0
    return float(_costs(magnitudes, checked).sum())


def _class_totals(magnitudes: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Rows: one per magnitude; columns: weighted cost under each of the 64 classes."""
    every_class = np.arange(NUM_SCALE_CLASSES)
    column = magnitudes.astype(np.float64)[:, None]
    return _costs(column, every_class[None, :]) * weights[:, None]


def _key_counts(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct non-negative keys, ascending, with their counts: `np.unique`'s answer.

    A bincount is O(n) where np.unique sorts; rate control asks for the coded size every few
    steps, and the sort was most of its ~28 ms on a 768x512 image's latents. Sparse key
    ranges (huge magnitudes) still sort rather than allocate a vast histogram.
    """
    top = int(keys.max()) + 1
    if top > 4 * keys.size + (1 << 16):
        return np.unique(keys, return_counts=True)
    counts = np.bincount(keys, minlength=top)
    present = np.flatnonzero(counts)
    return present, counts[present]


def _context_class_totals(
    magnitudes: np.ndarray, buckets: np.ndarray, n_contexts: int
) -> np.ndarray:
    """(n_contexts, 64): bits of each context's symbols under each class."""
    totals = np.zeros((n_contexts, NUM_SCALE_CLASSES))
    if magnitudes.size == 0:
        return totals
    # Grouping by (context, magnitude) makes the cost work scale with distinct pairs.
    stride = int(magnitudes.max()) + 1
    keys, counts = _key_counts(buckets * stride + magnitudes)
    key_context, key_magnitude = np.divmod(keys, stride)
    for start in range(0, keys.size, _CHUNK):
        stop = start + _CHUNK
        weighted = _class_totals(key_magnitude[start:stop], counts[start:stop])
        np.add.at(totals, key_context[start:stop], weighted)
    return totals


def best_class(symbols: np.ndarray) -> int:
    """Class minimising `laplace_bits` for one group (ties go to the smaller class)."""
    magnitudes = _magnitudes(symbols)
    if magnitudes.size == 0:
        return 0
    totals = _context_class_totals(magnitudes, np.zeros_like(magnitudes), 1)
    return int(np.argmin(totals[0]))


def best_classes_by_context(
    symbols: np.ndarray, contexts: np.ndarray, n_contexts: int
) -> np.ndarray:
    """Best class for each context bucket; buckets with no symbols get class 0."""
    return _best_classes_and_bits(symbols, contexts, n_contexts)[0]


def best_bits_by_context(
    symbols: np.ndarray, contexts: np.ndarray | None, n_contexts: int = 1
) -> float:
    """`laplace_bits` of `symbols` under the classes `best_classes_by_context` picks.

    Read off the same per-context totals, so no second pass over the symbols; `contexts`
    None puts every symbol in one context (the `best_class` case).
    """
    if contexts is None:
        contexts, n_contexts = np.zeros(np.asarray(symbols).size, dtype=np.int64), 1
    return _best_classes_and_bits(symbols, contexts, n_contexts)[1]


def _best_classes_and_bits(
    symbols: np.ndarray, contexts: np.ndarray, n_contexts: int
) -> tuple[np.ndarray, float]:
    magnitudes = _magnitudes(symbols)
    buckets = _as_contexts(contexts, magnitudes.size, n_contexts)
    result = np.zeros(n_contexts, dtype=np.int64)
    if magnitudes.size == 0:
        return result, 0.0
    totals = _context_class_totals(magnitudes, buckets, n_contexts)
    used = np.bincount(buckets, minlength=n_contexts) > 0
    result[used] = np.argmin(totals[used], axis=1)
    return result, float(totals[used].min(axis=1).sum())


def _as_contexts(contexts: np.ndarray, count: int, n_contexts: int) -> np.ndarray:
    """Flat int64 context ids, checked against the symbol count and bucket range."""
    if not isinstance(n_contexts, (int, np.integer)) or not 0 < int(n_contexts) <= 1 << 24:
        raise InputError(f"n_contexts must be an int in [1, 2**24], got {n_contexts!r}")
    array = np.asarray(contexts)
    if array.size and array.dtype.kind not in "iu":
        raise InputError(f"contexts must be integers, got dtype {array.dtype}")
    array = array.reshape(-1).astype(np.int64, copy=False)
    if array.size != count:
        raise InputError(f"got {array.size} contexts for {count} symbols")
    if array.size and (int(array.min()) < 0 or int(array.max()) >= n_contexts):
        raise InputError(f"contexts must lie in [0, {n_contexts})")
    return array
