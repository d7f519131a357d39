"""Entropy layer: scale table, cost model, payload round trips and hostile payloads."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from decimal import Decimal, getcontext

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nfcodec.entropy import (
    MAX_RANGE_WIDTH,
    NUM_SCALE_CLASSES,
    SCALES,
    SymbolReader,
    SymbolWriter,
    best_bits_by_context,
    best_class,
    best_classes_by_context,
    laplace_bits,
    nearest_class,
)
from nfcodec.errors import CorruptStream, InputError

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BIG = 1 << 18

# ---------------------------------------------------------------- strategies


def _symbol_values() -> st.SearchStrategy[int]:
    """Mostly small values, sometimes huge ones, so both the body and the range edges get hit."""
    return st.one_of(
        st.integers(-3, 3), st.integers(-200, 200), st.integers(-BIG, BIG), st.just(0)
    )


@st.composite
def chunks(draw: st.DrawFn) -> list[tuple[np.ndarray, np.ndarray | int]]:
    """A list of (symbols, classes) chunks; classes is a scalar or one per symbol."""
    out = []
    for _ in range(draw(st.integers(0, 6))):
        values = draw(st.lists(_symbol_values(), max_size=40))
        symbols = np.array(values, dtype=np.int64)
        if draw(st.booleans()):
            classes: np.ndarray | int = draw(st.integers(0, NUM_SCALE_CLASSES - 1))
        else:
            per_symbol = st.integers(0, NUM_SCALE_CLASSES - 1)
            classes = np.array(draw(st.lists(per_symbol, min_size=len(values),
                                             max_size=len(values))), dtype=np.int64)
        out.append((symbols, classes))
    return out


def _encode(parts: list[tuple[np.ndarray, np.ndarray | int]]) -> bytes:
    writer = SymbolWriter()
    for symbols, classes in parts:
        writer.write(symbols, classes)
    return writer.finish()


def _decode(payload: bytes, parts: list[tuple[np.ndarray, np.ndarray | int]]) -> list[np.ndarray]:
    reader = SymbolReader(payload)
    out = [reader.read(len(symbols), classes) for symbols, classes in parts]
    reader.finish()
    return out


def _laplace_symbols(rng: np.random.Generator, scale: float, n: int) -> np.ndarray:
    return np.round(rng.laplace(0.0, scale, n)).astype(np.int32)


# ---------------------------------------------------------------- scale table


def test_scale_table_matches_formula_within_one_ulp() -> None:
    assert SCALES.dtype == np.float64 and SCALES.shape == (NUM_SCALE_CLASSES,)
    for k in range(NUM_SCALE_CLASSES):
        exact = 2.0 ** ((k - 24) / 4)
        assert abs(SCALES[k] - exact) <= np.spacing(exact)
    assert SCALES[24] == 1.0
    np.testing.assert_array_equal(SCALES[4:], 2.0 * SCALES[:-4])  # octaves are exact


def test_scale_mantissas_are_correctly_rounded() -> None:
    """Each quarter-octave mantissa must be the float nearest to 2 ** (r / 4)."""
    getcontext().prec = 60
    for r in range(4):
        mantissa = float(SCALES[24 + r])
        true = Decimal(2) ** (Decimal(r) / Decimal(4))
        error = abs(Decimal(mantissa) - true)
        for neighbour in (np.nextafter(mantissa, 0.0), np.nextafter(mantissa, 4.0)):
            assert error <= abs(Decimal(float(neighbour)) - true)


def test_scale_table_bytes_are_pinned() -> None:
    """The spec quotes this digest of the 64 little-endian float64 scales."""
    digest = hashlib.sha256(SCALES.astype("<f8").tobytes()).hexdigest()
    assert digest == "71b2f94cb6dcab9e1db17b253266afc9aedb3620047fe73783f29aea999f7847"


def test_scale_table_is_read_only() -> None:
    with pytest.raises(ValueError):
        SCALES[0] = 1.0


def test_nearest_class() -> None:
    for k in range(NUM_SCALE_CLASSES):
        assert nearest_class(float(SCALES[k])) == k
        assert nearest_class(float(SCALES[k]) * 1.05) == k
    assert nearest_class(0.0) == 0
    assert nearest_class(1e-9) == 0
    assert nearest_class(1e9) == NUM_SCALE_CLASSES - 1
    with pytest.raises(InputError):
        nearest_class(float("nan"))


# ---------------------------------------------------------------- round trips


@FAST
@given(chunks())
def test_round_trip_is_exact(parts: list[tuple[np.ndarray, np.ndarray | int]]) -> None:
    payload = _encode(parts)
    decoded = _decode(payload, parts)
    for (symbols, _), got in zip(parts, decoded, strict=True):
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, symbols)


@FAST
@given(chunks(), st.data())
def test_bytes_depend_only_on_symbols_and_classes(
    parts: list[tuple[np.ndarray, np.ndarray | int]], data: st.DataObject
) -> None:
    """Same input gives the same bytes, and re-splitting the chunks does not change them."""
    payload = _encode(parts)
    assert _encode(parts) == payload
    symbols = [s for s, _ in parts]
    classes = [np.broadcast_to(c, s.shape) for s, c in parts]
    flat = np.concatenate(symbols) if symbols else np.zeros(0, dtype=np.int64)
    flat_classes = np.concatenate(classes) if classes else np.zeros(0, dtype=np.int64)
    cut = data.draw(st.integers(0, flat.size))
    resplit = [(flat[:cut], flat_classes[:cut]), (flat[cut:], flat_classes[cut:])]
    assert _encode(resplit) == payload


def test_empty_and_degenerate_payloads() -> None:
    assert _encode([]) == b"\x00"
    assert _encode([(np.zeros(0, dtype=np.int32), 5)]) == b"\x00"
    SymbolReader(b"\x00").finish()
    zeros = [(np.zeros(1000, dtype=np.int32), 3)]
    payload = _encode(zeros)
    assert payload == b"\xe8\x07\x00\x00\x00"  # count 1000, lo 0, width 0, no words
    np.testing.assert_array_equal(_decode(payload, zeros)[0], 0)
    single = [(np.array([-7]), 40)]
    assert _decode(_encode(single), single)[0].tolist() == [-7]
    pair = [(np.array([0, 1]), 0)]
    assert _decode(_encode(pair), pair)[0].tolist() == [0, 1]


def test_extreme_range_round_trips() -> None:
    rng = np.random.default_rng(3)
    symbols = _laplace_symbols(rng, 2.0, 3000)
    symbols[[10, 20]] = [-BIG, BIG]
    classes = rng.integers(0, NUM_SCALE_CLASSES, symbols.size)
    parts = [(symbols[:1000], classes[:1000]), (symbols[1000:], 7)]
    for (want, _), got in zip(parts, _decode(_encode(parts), parts), strict=True):
        np.testing.assert_array_equal(got, want)


def test_large_stream_chunked_reads() -> None:
    rng = np.random.default_rng(4)
    symbols = _laplace_symbols(rng, 5.0, 200 * 800)
    writer = SymbolWriter()
    for row in symbols.reshape(200, 800):
        writer.write(row, 33)
    reader = SymbolReader(writer.finish())
    rows = [reader.read(800, 33) for _ in range(200)]
    reader.finish()
    np.testing.assert_array_equal(np.concatenate(rows), symbols)


def test_golden_payload() -> None:
    """The worked example in bitstream/SPEC.md section 9, byte for byte, both ways."""
    classes = np.array([20, 24, 44, 28, 0])
    parts = [(np.array([0, 1, -1, 3, -7]), 24), (np.array([0, 2, 120, -2, 0]), classes)]
    payload = bytes.fromhex("0a0d7f02" "b53e6681" "09283900")
    assert _encode(parts) == payload
    got = _decode(payload, parts)
    assert [g.tolist() for g in got] == [[0, 1, -1, 3, -7], [0, 2, 120, -2, 0]]


def test_writer_finish_is_idempotent_and_final() -> None:
    writer = SymbolWriter()
    writer.write(np.array([1, 2, 3]), 20)
    assert writer.finish() == writer.finish()
    with pytest.raises(InputError):
        writer.write(np.array([1]), 20)


# ---------------------------------------------------------------- writer input checks


@pytest.mark.parametrize(
    ("symbols", "classes"),
    [
        (np.array([1.0, 2.0]), 3),
        (np.array([1, 2]), NUM_SCALE_CLASSES),
        (np.array([1, 2]), -1),
        (np.array([1, 2]), np.array([1, 2, 3])),
        (np.array([1, 2]), np.array([0.5, 1.5])),
        (np.array([0, MAX_RANGE_WIDTH + 1]), 3),
        (np.array([1 << 40]), 3),
    ],
)
def test_writer_rejects_bad_input(symbols: np.ndarray, classes: np.ndarray | int) -> None:
    with pytest.raises(InputError):
        SymbolWriter().write(symbols, classes)


def test_writer_range_check_spans_chunks() -> None:
    writer = SymbolWriter()
    writer.write(np.array([-MAX_RANGE_WIDTH // 2]), 3)
    with pytest.raises(InputError):
        writer.write(np.array([MAX_RANGE_WIDTH // 2 + 1]), 3)
    writer.write(np.array([MAX_RANGE_WIDTH // 2]), 3)  # the failed chunk left no trace
    assert writer.finish()


# ---------------------------------------------------------------- reader bounds


def _payload() -> tuple[bytes, list[tuple[np.ndarray, np.ndarray | int]]]:
    rng = np.random.default_rng(5)
    symbols = _laplace_symbols(rng, 3.0, 600)
    parts = [(symbols[:300], 27), (symbols[300:], rng.integers(20, 40, 300))]
    return _encode(parts), parts


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x80",  # truncated varint
        b"\x80\x00",  # overlong varint
        b"\xff\xff\xff\xff\xff\x01",  # varint longer than 5 bytes
        b"\x00\x00",  # empty payload with trailing bytes
        b"\x80\x80\x80\x80\x08",  # 2**31 symbols
        b"\x01\x00\x81\x80\x40\x00",  # range width 2**20 + 1
        b"\x01\x00\x00\x01\x01\x00\x00\x00",  # words present for a one-value range
        b"\x01\x00\x01\x00",  # no words for a two-value range
        b"\x01\x00\x01\x02\x01\x00\x00\x00",  # word count larger than the data
        b"\x01\x00\x01\x01\x00\x00\x00\x00",  # ANS data ending in a zero word
        b"\x01\xfe\xff\xff\xff\x1f\x01\x00",  # hi beyond int32
    ],
)
def test_reader_rejects_bad_heads(payload: bytes) -> None:
    with pytest.raises(CorruptStream):
        SymbolReader(payload)


def test_reader_bounds_symbol_count() -> None:
    payload, parts = _payload()
    reader = SymbolReader(payload)
    with pytest.raises(CorruptStream):
        reader.read(601, 27)  # more than the stream holds: refused before decoding
    reader = SymbolReader(payload)
    reader.read(300, 27)
    with pytest.raises(CorruptStream):
        reader.finish()  # symbols left unread
    reader = SymbolReader(_encode([(np.zeros(5, dtype=np.int32), 0)]))
    with pytest.raises(CorruptStream):
        reader.read(6, 0)


def test_reader_rejects_bad_classes() -> None:
    payload, _ = _payload()
    with pytest.raises(CorruptStream):
        SymbolReader(payload).read(3, NUM_SCALE_CLASSES)
    with pytest.raises(CorruptStream):
        SymbolReader(payload).read(3, np.array([1, 2]))


@FAST
@given(st.data())
def test_damaged_payloads_fail_cleanly(data: st.DataObject) -> None:
    """Truncation, bit flips and garbage give CorruptStream or symbols, never anything else."""
    payload, parts = _payload()
    kind = data.draw(st.sampled_from(["truncate", "flip", "garbage", "append"]))
    damaged = bytearray(payload)
    if kind == "truncate":
        damaged = damaged[: data.draw(st.integers(0, len(payload) - 1))]
    elif kind == "flip":
        index = data.draw(st.integers(0, len(payload) - 1))
        damaged[index] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "garbage":
        damaged = bytearray(data.draw(st.binary(max_size=64)))
    else:
        damaged += data.draw(st.binary(min_size=1, max_size=8))
    try:
        decoded = _decode(bytes(damaged), parts)
    except CorruptStream:
        return
    for (symbols, _), got in zip(parts, decoded, strict=True):
        assert got.shape == symbols.shape and got.dtype == np.int32


# ---------------------------------------------------------------- cost model


@pytest.mark.parametrize("scale", [0.3, 1.0, 4.0, 40.0])
def test_laplace_bits_predicts_coded_size(scale: float) -> None:
    rng = np.random.default_rng(int(scale * 10))
    symbols = _laplace_symbols(rng, scale, 20000)
    klass = nearest_class(scale)
    estimate = laplace_bits(symbols, klass)
    actual = 8 * len(_encode([(symbols, klass)]))
    assert abs(actual - estimate) <= 0.03 * actual + 64


def test_laplace_bits_per_symbol_classes() -> None:
    rng = np.random.default_rng(6)
    symbols = _laplace_symbols(rng, 2.0, 4000)
    classes = rng.integers(10, 50, symbols.size)
    split = laplace_bits(symbols[:1000], classes[:1000]) + laplace_bits(
        symbols[1000:], classes[1000:]
    )
    assert laplace_bits(symbols, classes) == pytest.approx(split)
    actual = 8 * len(_encode([(symbols, classes)]))
    assert abs(actual - laplace_bits(symbols, classes)) <= 0.03 * actual + 64
    assert laplace_bits(np.zeros(0, dtype=np.int32), 3) == 0.0
    with pytest.raises(InputError):
        laplace_bits(symbols, classes[:10])


@FAST
@given(st.lists(_symbol_values(), min_size=1, max_size=200))
def test_best_class_beats_neighbours(values: list[int]) -> None:
    symbols = np.array(values, dtype=np.int64)
    best = best_class(symbols)
    cost = laplace_bits(symbols, best)
    for other in (best - 1, best + 1, 0, NUM_SCALE_CLASSES - 1):
        if 0 <= other < NUM_SCALE_CLASSES:
            assert cost <= laplace_bits(symbols, other) * (1 + 1e-12)


def test_best_class_tracks_scale() -> None:
    rng = np.random.default_rng(7)
    for scale in (0.5, 2.0, 16.0, 100.0):
        assert abs(best_class(_laplace_symbols(rng, scale, 20000)) - nearest_class(scale)) <= 2
    assert best_class(np.zeros(0, dtype=np.int32)) == 0
    assert best_class(np.zeros(50, dtype=np.int32)) == 0


@FAST
@given(st.lists(st.tuples(_symbol_values(), st.integers(0, 5)), max_size=200))
def test_best_classes_by_context_matches_per_bucket(pairs: list[tuple[int, int]]) -> None:
    symbols = np.array([s for s, _ in pairs], dtype=np.int64)
    contexts = np.array([c for _, c in pairs], dtype=np.int64)
    got = best_classes_by_context(symbols, contexts, 8)
    assert got.shape == (8,)
    for bucket in range(8):
        members = symbols[contexts == bucket]
        want = best_class(members) if members.size else 0
        assert laplace_bits(members, int(got[bucket])) == pytest.approx(
            laplace_bits(members, want)
        )


@FAST
@given(st.lists(st.tuples(_symbol_values(), st.integers(0, 5)), max_size=200))
def test_best_bits_by_context_is_the_size_under_the_best_classes(
    pairs: list[tuple[int, int]],
) -> None:
    symbols = np.array([s for s, _ in pairs], dtype=np.int64)
    contexts = np.array([c for _, c in pairs], dtype=np.int64)
    classes = best_classes_by_context(symbols, contexts, 8)
    want = laplace_bits(symbols, classes[contexts]) if symbols.size else 0.0
    assert best_bits_by_context(symbols, contexts, 8) == pytest.approx(want, rel=1e-12)
    single = laplace_bits(symbols, best_class(symbols)) if symbols.size else 0.0
    assert best_bits_by_context(symbols, None) == pytest.approx(single, rel=1e-12)


@pytest.mark.parametrize("high", [10, 1 << 30])  # a histogram, then a sort for sparse keys
def test_key_counts_agrees_with_unique(high: int) -> None:
    from nfcodec.entropy.laplace import _key_counts

    keys = np.random.default_rng(3).integers(0, high, 5000)
    for got, want in zip(_key_counts(keys), np.unique(keys, return_counts=True), strict=True):
        np.testing.assert_array_equal(got, want)


def test_best_classes_by_context_rejects_bad_contexts() -> None:
    with pytest.raises(InputError):
        best_classes_by_context(np.array([1, 2]), np.array([0, 3]), 3)
    with pytest.raises(InputError):
        best_classes_by_context(np.array([1, 2]), np.array([0]), 3)
    with pytest.raises(InputError):
        best_classes_by_context(np.array([1, 2]), np.array([0, 1]), 0)


# ---------------------------------------------------------------- isolation


def test_entropy_package_does_not_import_torch() -> None:
    code = "import sys, nfcodec.entropy; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
