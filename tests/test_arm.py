"""Format 2's autoregressive latent model: tables, rANS round trips, agreement, hostile input."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nfcodec.entropy import arm
from nfcodec.entropy.arm import (
    ALPHABET,
    CDF,
    INPUT_SIZE,
    MAX_LATENT,
    MAX_PARAMETER,
    ArmWeights,
    decode_planes,
    encode_planes,
    latent_bits,
)
from nfcodec.entropy.rans import PRECISION
from nfcodec.errors import CorruptStream, InputError
from nfcodec.fields.base import LatentTable
from nfcodec.fit.arm_rate import ArmRateModel, coarsen_steps
from nfcodec.sections import (
    TableLayout,
    decode_latent_model,
    encode_latent_model,
    planes_to_tables,
    tables_to_planes,
)

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TABLE_SHA256 = "aeabe281db7c83cc65c5920e4404949e31aca275e0f1c8719e57124ce57b8392"


def random_weights(rng: np.random.Generator, hidden: int, planes: int, spread: int = 300):
    return ArmWeights.from_tensors(
        [
            rng.integers(-spread, spread, (hidden, INPUT_SIZE)),
            rng.integers(-2 * spread, 2 * spread, hidden),
            rng.integers(-spread, spread, (2, hidden)),
            rng.integers(-2 * spread, 2 * spread, (planes, 2)),
        ],
        hidden,
        planes,
    )


def test_tables_are_the_specified_integers() -> None:
    freqs = np.diff(CDF, axis=-1)
    assert CDF.shape == (arm.NUM_SCALES, arm.MU_STEPS, ALPHABET + 1)
    assert (freqs >= 1).all()
    assert (CDF[..., 0] == 0).all() and (CDF[..., -1] == 1 << PRECISION).all()
    assert hashlib.sha256(CDF.astype("<i8").tobytes()).hexdigest() == TABLE_SHA256


def test_tables_follow_the_laplace_they_describe() -> None:
    """Spot check against float maths: class 24 (scale 1), mean 0, symbol 0."""
    freq = CDF[24, 0, 65] - CDF[24, 0, 64]
    assert freq / 2**24 == pytest.approx(1 - np.exp(-0.5), rel=1e-4)
    # A wider class spreads the mass: P(0) falls as the class grows.
    zero = np.diff(CDF[:, 0, 64:66], axis=-1)[:, 0]
    assert (np.diff(zero) <= 0).all()


@st.composite
def plane_sets(draw: st.DrawFn) -> tuple[list[np.ndarray], ArmWeights]:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    planes = []
    for _ in range(draw(st.integers(1, 3))):
        shape = (draw(st.integers(1, 12)), draw(st.integers(1, 12)))
        spread = draw(st.sampled_from([0.05, 1.0, 20.0, 3000.0]))
        values = np.rint(rng.laplace(0.0, spread, shape)).astype(np.int64)
        if draw(st.booleans()):  # the edges of the coded range
            values.flat[0] = draw(st.sampled_from([MAX_LATENT, -MAX_LATENT, 64, -64, 63]))
        planes.append(np.clip(values, -MAX_LATENT, MAX_LATENT))
    hidden = draw(st.integers(1, 6))
    return planes, random_weights(rng, hidden, len(planes))


@FAST
@given(plane_sets())
def test_round_trip_and_exact_cost(case: tuple[list[np.ndarray], ArmWeights]) -> None:
    planes, weights = case
    data = encode_planes(planes, weights)
    decoded = decode_planes(data, [p.shape for p in planes], weights)
    for original, back in zip(planes, decoded, strict=True):
        np.testing.assert_array_equal(original, back)
    # The estimate is the ideal code length; rANS adds its 64-bit final state and rounding.
    bits = latent_bits(planes, weights)
    assert 8 * len(data) >= bits - 1e-6
    assert 8 * len(data) <= bits + 64 + 32 + 1e-4 * bits


def test_predictable_planes_cost_little() -> None:
    """A model that predicts each latent from its left neighbour codes a ramp in ~nothing."""
    hidden = 2
    w1 = np.zeros((hidden, INPUT_SIZE), dtype=np.int64)
    w1[0, 11], w1[1, 11] = 256, -256  # relu(left) and relu(-left)
    w2 = np.array([[256, -256], [0, 0]], dtype=np.int64)
    b2 = np.array([[256, -6 * 256]], dtype=np.int64)  # mean left + 1, scale 2**-6
    weights = ArmWeights.from_tensors([w1, np.zeros(hidden), w2, b2], hidden, 1)
    ramp = np.tile(np.arange(1, 201, dtype=np.int64), (5, 1))
    assert latent_bits([ramp], weights) < 0.01 * ramp.size
    np.testing.assert_array_equal(
        decode_planes(encode_planes([ramp], weights), [ramp.shape], weights)[0], ramp
    )


def test_training_rate_agrees_with_the_coded_size() -> None:
    """The float model on rounded latents prices them as the integer model codes them."""
    rng = np.random.default_rng(3)
    shapes = [(20, 30), (40, 50)]
    tables = [LatentTable(h * w, 1, (h, w)) for h, w in shapes]
    values = [np.rint(rng.laplace(0, 2.0, (h * w, 1))).astype(np.int32) for h, w in shapes]
    model = ArmRateModel(tables, hidden=4, sample_fraction=1.0)
    with torch.no_grad():
        model.w2.copy_(torch.tensor([[0.2, -0.1, 0.3, 0.0], [0.1, 0.05, -0.02, 0.03]]))
        model.b2.copy_(torch.tensor([[0.1, 0.8], [-0.3, 1.1]]))
    model.load_integer(model.to_integer())
    with torch.no_grad():
        proxy = float(model.bits([torch.from_numpy(v.astype(np.float32)) for v in values]))
    layouts = [TableLayout(t.rows, t.features, t.grid_shape) for t in tables]
    exact = latent_bits(tables_to_planes(values, layouts), model.to_integer())
    assert proxy == pytest.approx(exact, rel=0.02)


def test_sampled_rate_is_an_unbiased_estimate() -> None:
    rng = np.random.default_rng(4)
    table = LatentTable(60 * 80, 1, (60, 80))
    values = [torch.from_numpy(rng.laplace(0, 1.5, (60 * 80, 1)).astype(np.float32))]
    with torch.no_grad():
        full = float(ArmRateModel([table], 4, 1.0).bits(values))
    sampled = ArmRateModel([table], 4, 0.1)
    with torch.no_grad():
        estimates = [float(sampled.bits(values)) for _ in range(60)]
    assert np.mean(estimates) == pytest.approx(full, rel=0.02)


def test_planes_and_tables_convert_both_ways() -> None:
    layouts = [TableLayout(6, 2, (2, 3)), TableLayout(5, 1, None)]
    tables = [np.arange(12, dtype=np.int32).reshape(6, 2), np.arange(5, dtype=np.int32)[:, None]]
    planes = tables_to_planes(tables, layouts)
    assert [p.shape for p in planes] == [(2, 3), (2, 3), (5, 1)]
    np.testing.assert_array_equal(planes[1], [[1, 3, 5], [7, 9, 11]])
    for a, b in zip(planes_to_tables(planes, layouts), tables, strict=True):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- hostile input


def _coded_case() -> tuple[bytes, list[tuple[int, int]], ArmWeights]:
    rng = np.random.default_rng(1)
    planes = [np.rint(rng.laplace(0, 3.0, (9, 11))).astype(np.int64)]
    weights = random_weights(rng, 4, 1)
    return encode_planes(planes, weights), [(9, 11)], weights


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d[:-4],  # a word short
        lambda d: d + b"\0\0\0\0",  # a word too many
        lambda d: d[:-1],  # not whole words
        lambda d: b"",
        lambda d: d[:4],
    ],
    ids=["short", "trailing", "ragged", "empty", "one-word"],
)
def test_damaged_streams_are_refused(mutate) -> None:
    data, shapes, weights = _coded_case()
    with pytest.raises(CorruptStream):
        decode_planes(mutate(data), shapes, weights)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 2**32 - 1))
def test_overwritten_words_never_crash(position: int, value: int) -> None:
    data, shapes, weights = _coded_case()
    words = np.frombuffer(data, dtype="<u4").copy()
    words[position % words.size] ^= np.uint32(value)
    try:
        out = decode_planes(words.tobytes(), shapes, weights)
    except CorruptStream:
        return
    assert out[0].shape == shapes[0] and np.abs(out[0]).max() <= MAX_LATENT


def test_latent_model_payload_round_trip_and_bounds() -> None:
    weights = random_weights(np.random.default_rng(2), 5, 3)
    payload = encode_latent_model(weights)
    back = decode_latent_model(payload, 3)
    for a, b in zip(back.tensors(), weights.tensors(), strict=True):
        np.testing.assert_array_equal(a, b)
    for bad_hidden in (0, 33):
        with pytest.raises(CorruptStream, match="hidden width"):
            decode_latent_model(bytes([bad_hidden]) + payload[1:], 3)
    too_fine = bytearray(payload)
    too_fine[1] = 9  # first tensor's exponent
    with pytest.raises(CorruptStream, match="finer than 2\\*\\*-8"):
        decode_latent_model(bytes(too_fine), 3)
    with pytest.raises(CorruptStream):
        decode_latent_model(payload, 4)  # the header implies another plane count
    with pytest.raises(CorruptStream):
        decode_latent_model(b"", 3)


def test_latent_model_uses_the_coarsest_exact_step() -> None:
    """Values on a coarser grid are stored with fewer bits and decode to the same integers."""
    rng = np.random.default_rng(5)
    fine = random_weights(rng, 4, 2)
    coarse = ArmWeights.from_tensors([(t // 16) * 16 for t in fine.tensors()], 4, 2)
    payload = encode_latent_model(coarse)
    assert len(payload) < len(encode_latent_model(fine))
    assert payload[1] == 4  # W1's step 2**-4
    for a, b in zip(decode_latent_model(payload, 2).tensors(), coarse.tensors(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_coarsened_steps_never_cost_more() -> None:
    rng = np.random.default_rng(6)
    planes = [np.rint(rng.laplace(0, 2.0, (30, 40))).astype(np.int64)]
    weights = random_weights(rng, 4, 1, spread=40)

    def cost(w: ArmWeights) -> float:
        return latent_bits(planes, w) + 8 * len(encode_latent_model(w))

    chosen = coarsen_steps(weights, cost)
    assert cost(chosen) <= cost(weights)
    assert len(encode_latent_model(chosen)) < len(encode_latent_model(weights))


def test_parameters_beyond_the_bound_are_corrupt() -> None:
    tensors = [np.zeros((1, INPUT_SIZE)), np.zeros(1), np.zeros((2, 1)), np.zeros((1, 2))]
    tensors[0][0, 0] = MAX_PARAMETER + 1
    with pytest.raises(CorruptStream):
        ArmWeights.from_tensors(tensors, 1, 1)


def test_encoder_refuses_latents_it_cannot_code() -> None:
    weights = random_weights(np.random.default_rng(0), 2, 1)
    with pytest.raises(InputError):
        encode_planes([np.array([[MAX_LATENT + 1]])], weights)
    with pytest.raises(InputError):
        encode_planes([np.zeros((2, 2)), np.zeros((2, 2))], weights)
