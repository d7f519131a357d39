"""Random pixel permutation (RPP): a seeded shuffle of pixel positions.

Some fields fit better when neighbouring table entries are not neighbouring
pixels; the encoder shuffles the picture before fitting and the decoder
unshuffles after reconstruction.  Both sides must agree bit for bit, so the
shuffle is defined by plain 64-bit integer arithmetic (normative text in
``bitstream/SPEC.md`` section 8) rather than by any library's random generator:

* ``mix64`` is the SplitMix64 finaliser;
* pixel ``i`` (row-major flat index) gets the key
  ``mix64(seed + (i + 1) * 0x9E3779B97F4A7C15 mod 2**64)``;
* ``perm`` lists the pixel indices in ascending ``(key, i)`` order;
* the permuted image holds ``permuted[p] = original[perm[p]]``.
"""

from __future__ import annotations

import operator

import numpy as np

from nfcodec.errors import InputError

SEED_LIMIT = 1 << 64  # seeds are unsigned 64-bit integers
GOLDEN_GAMMA = 0x9E3779B97F4A7C15
MIX_MUL_1 = 0xBF58476D1CE4E5B9
MIX_MUL_2 = 0x94D049BB133111EB


def mix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser applied element-wise to a uint64 array (in place; returned)."""
    with np.errstate(over="ignore"):
        z ^= z >> np.uint64(30)
        z *= np.uint64(MIX_MUL_1)
        z ^= z >> np.uint64(27)
        z *= np.uint64(MIX_MUL_2)
        z ^= z >> np.uint64(31)
    return z


def _check_seed(seed: int) -> int:
    """Accept any integer type in [0, 2**64); booleans and floats are mistakes."""
    if isinstance(seed, bool):
        raise InputError(f"RPP seed must be an integer, not {seed!r}")
    try:
        value = operator.index(seed)
    except TypeError:
        raise InputError(f"RPP seed must be an integer, not {seed!r}") from None
    if not 0 <= value < SEED_LIMIT:
        raise InputError(f"RPP seed must be in 0..2**64-1, got {value}")
    return value


def pixel_keys(n: int, seed: int) -> np.ndarray:
    """The 64-bit sort key of each of ``n`` pixels, as a uint64 array."""
    seed = _check_seed(seed)
    with np.errstate(over="ignore"):
        z = np.arange(1, n + 1, dtype=np.uint64)
        z *= np.uint64(GOLDEN_GAMMA)
        z += np.uint64(seed)
    return mix64(z)


def permutation(n: int, seed: int) -> np.ndarray:
    """Indices of ``n`` pixels in RPP order (int64); ``perm[p]`` is the source of slot ``p``."""
    n = operator.index(n)
    if n < 0:
        raise InputError(f"pixel count must be non-negative, got {n}")
    keys = pixel_keys(n, seed)
    # A stable sort breaks equal keys by index, which is exactly the (key, i) order.
    return np.argsort(keys, kind="stable").astype(np.int64, copy=False)


def _flat_pixels(img: np.ndarray) -> np.ndarray:
    """View an (H, W, ...) image as (H*W, rest) so whole pixels move together."""
    array = np.asarray(img)
    if array.ndim < 2:
        raise InputError(f"expected an image of shape (H, W[, C]), got {array.shape}")
    return array.reshape(array.shape[0] * array.shape[1], -1)


def permute_pixels(img: np.ndarray, seed: int) -> np.ndarray:
    """Shuffle the pixels of an (H, W[, C]) image; channels of a pixel stay together."""
    flat = _flat_pixels(img)
    perm = permutation(flat.shape[0], seed)
    return flat[perm].reshape(np.shape(img))


def unpermute_pixels(img: np.ndarray, seed: int) -> np.ndarray:
    """Undo :func:`permute_pixels` with the same seed."""
    flat = _flat_pixels(img)
    perm = permutation(flat.shape[0], seed)
    out = np.empty_like(flat)
    out[perm] = flat
    return out.reshape(np.shape(img))
