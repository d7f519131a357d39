"""Tests for the random pixel permutation (RPP) against an independent reading of its spec."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nfcodec.errors import InputError
from nfcodec.transforms import permutation, permute_pixels, pixel_keys, unpermute_pixels

MASK = (1 << 64) - 1


def _mix64_reference(z: int) -> int:
    """SplitMix64 finaliser with Python integers, written from bitstream/SPEC.md section 8."""
    z ^= z >> 30
    z = (z * 0xBF58476D1CE4E5B9) & MASK
    z ^= z >> 27
    z = (z * 0x94D049BB133111EB) & MASK
    z ^= z >> 31
    return z


def _permutation_reference(n: int, seed: int) -> list[int]:
    """The spec evaluated literally: keys from Python ints, sort by (key, index)."""
    keys = [_mix64_reference((seed + (i + 1) * 0x9E3779B97F4A7C15) & MASK) for i in range(n)]
    return sorted(range(n), key=lambda i: (keys[i], i))


def test_reference_keys_are_the_splitmix64_stream() -> None:
    # With seed 0, key 0 is the first output of SplitMix64 seeded with 0, a widely published value.
    assert _mix64_reference(0x9E3779B97F4A7C15) == 0xE220A8397B1DCDAF
    assert int(pixel_keys(1, 0)[0]) == 0xE220A8397B1DCDAF


def test_known_answer_n16_seed1() -> None:
    expected = [15, 8, 10, 14, 4, 3, 12, 7]
    assert _permutation_reference(16, 1)[:8] == expected
    assert permutation(16, 1)[:8].tolist() == expected


@pytest.mark.parametrize("seed", [0, 1, 42, 2**63, 2**64 - 1, 0x0123456789ABCDEF])
@pytest.mark.parametrize("n", [1, 2, 7, 100])
def test_matches_reference(n: int, seed: int) -> None:
    assert permutation(n, seed).tolist() == _permutation_reference(n, seed)


def test_keys_match_reference() -> None:
    seed = 2**64 - 3
    keys = pixel_keys(5, seed).tolist()
    expected = [_mix64_reference((seed + (i + 1) * 0x9E3779B97F4A7C15) & MASK) for i in range(5)]
    assert keys == expected


def test_permutation_is_a_permutation() -> None:
    perm = permutation(1000, 7)
    assert perm.dtype == np.int64
    assert np.array_equal(np.sort(perm), np.arange(1000))


def test_small_sizes() -> None:
    assert permutation(1, 123).tolist() == [0]
    assert permutation(0, 123).tolist() == []


def test_different_seeds_differ() -> None:
    assert not np.array_equal(permutation(256, 1), permutation(256, 2))
    assert not np.array_equal(permutation(256, 0), permutation(256, 2**64 - 1))


def test_permute_definition() -> None:
    img = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    out = permute_pixels(img, 9)
    perm = permutation(20, 9)
    flat_in = img.reshape(20, 3)
    flat_out = out.reshape(20, 3)
    for p in range(20):
        assert np.array_equal(flat_out[p], flat_in[perm[p]])


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 1, 1), (3, 7, 1), (16, 9, 3), (5, 6)])
def test_roundtrip_shapes(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    shuffled = permute_pixels(img, 31337)
    assert shuffled.shape == img.shape
    assert shuffled.dtype == img.dtype
    assert np.array_equal(unpermute_pixels(shuffled, 31337), img)


@settings(max_examples=30, deadline=None)
@given(
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    seed=st.integers(0, 2**64 - 1),
)
def test_roundtrip_property(h: int, w: int, seed: int) -> None:
    img = np.arange(h * w * 3, dtype=np.int32).reshape(h, w, 3)
    assert np.array_equal(unpermute_pixels(permute_pixels(img, seed), seed), img)
    assert np.array_equal(permute_pixels(unpermute_pixels(img, seed), seed), img)


def test_pixels_move_whole() -> None:
    img = np.zeros((6, 6, 3), dtype=np.uint8)
    img[..., 0] = np.arange(36).reshape(6, 6)
    img[..., 1] = img[..., 0] + 100
    out = permute_pixels(img, 5)
    assert np.array_equal(out[..., 1], out[..., 0] + 100)


def test_no_overflow_warnings() -> None:
    with np.errstate(all="raise"):
        permutation(64, 2**64 - 1)


@pytest.mark.parametrize("seed", [-1, 2**64, 1.5, True, "3", None])
def test_bad_seed(seed: object) -> None:
    with pytest.raises(InputError):
        permutation(4, seed)  # type: ignore[arg-type]


def test_numpy_integer_seed() -> None:
    assert permutation(10, np.uint64(2**64 - 1)).tolist() == _permutation_reference(10, 2**64 - 1)


def test_negative_n() -> None:
    with pytest.raises(InputError):
        permutation(-1, 0)


def test_spec_vectors_match() -> None:
    """The known-answer tables in bitstream/SPEC.md section 8 agree with the implementation."""
    spec = Path(__file__).resolve().parent.parent / "bitstream" / "SPEC.md"
    if not spec.is_file():
        pytest.skip("bitstream spec not present")
    text = spec.read_text()
    section = text[text.index("## 8. Pixel permutation") : text.index("## 9. ")]
    perm_rows = key_rows = 0
    for line in section.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].isdigit():
            n, seed = int(cells[0]), int(cells[1], 0)
            assert permutation(n, seed).tolist() == [int(v) for v in cells[2].split()]
            perm_rows += 1
        elif len(cells) == 5 and cells[0].isdigit():
            keys = pixel_keys(4, int(cells[0], 0)).tolist()
            assert keys == [int(v, 16) for v in cells[1:]]
            key_rows += 1
    assert perm_rows >= 5
    assert key_rows >= 2
