"""rANS with a 64-bit state and 32-bit words, in numba, for models evaluated symbol by symbol.

The autoregressive latent model needs each symbol's probabilities before the next symbol can be
modelled, so the coder has to run inside the same compiled loop as the model; constriction's
coders are driven from Python one call at a time, which costs microseconds per symbol.
Normative description: bitstream/SPEC.md, "rANS coder".

State x lies in [L, L * 2**32) with L = 2**31; probabilities have PRECISION bits. The encoder
codes entries last to first; the stream is the final state (low word, high word) followed by
the renormalisation words in the order the decoder reads them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

PRECISION = 24
STATE_LOW = np.uint64(1 << 31)
_PREC = np.uint64(PRECISION)
_MASK = np.uint64((1 << PRECISION) - 1)
_WORD = np.uint64(32)
_WORD_MASK = np.uint64(0xFFFFFFFF)
_X_MAX_UNIT = np.uint64(((1 << 31) >> PRECISION) << 32)


@njit(cache=True)
def rans_encode(starts: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Code entries (start, freq) so that a decoder pops them first to last; uint32 words."""
    n = starts.size
    emitted = np.empty(n + 2, dtype=np.uint32)
    count = 0
    x = STATE_LOW
    for e in range(n - 1, -1, -1):
        freq = np.uint64(freqs[e])
        start = np.uint64(starts[e])
        if x >= _X_MAX_UNIT * freq:
            emitted[count] = np.uint32(x & _WORD_MASK)
            count += 1
            x = x >> _WORD
        x = ((x // freq) << _PREC) + (x % freq) + start
    emitted[count] = np.uint32(x >> _WORD)
    emitted[count + 1] = np.uint32(x & _WORD_MASK)
    return emitted[: count + 2][::-1].copy()


@njit(inline="always")
def rans_start(words: np.ndarray) -> np.uint64:
    """Initial decoder state from the first two words (the caller checks there are two)."""
    return np.uint64(words[0]) | (np.uint64(words[1]) << _WORD)


@njit(inline="always")
def rans_slot(x: np.uint64) -> np.int64:
    """The cumulative-frequency slot of the next symbol."""
    return np.int64(x & _MASK)


@njit(inline="always")
def rans_advance(x: np.uint64, start: np.int64, freq: np.int64, words: np.ndarray, pos: np.int64):
    """Consume the symbol occupying [start, start + freq); returns (state, next word index).

    A stream that runs out of words returns pos = -1; the caller reports it as corrupt.
    """
    x = np.uint64(freq) * (x >> _PREC) + (x & _MASK) - np.uint64(start)
    if x < STATE_LOW:
        if pos >= words.size:
            return x, np.int64(-1)
        x = (x << _WORD) | np.uint64(words[pos])
        pos += 1
    return x, pos
