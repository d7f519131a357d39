"""The numpy/numba synthesis network: the arithmetic SPEC §11 pins, and agreement with torch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nfcodec.fields.config import NetworkSpec
from nfcodec.fields.mlp import build_network
from nfcodec.pixels import samples_to_uint8
from nfcodec.synthesis import gelu, linear, sine, synthesize


def fma_reference(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Sequential fused multiply-adds from 0, then + bias. The product of two float32 values
    is exact in float64, so one float64 add rounded to float32 is the fused result (double
    rounding aside, which these seeded values do not hit)."""
    out = np.empty((x.shape[0], weight.shape[0]), dtype=np.float32)
    for p in range(x.shape[0]):
        for o in range(weight.shape[0]):
            acc = np.float32(0.0)
            for i in range(x.shape[1]):
                acc = np.float32(float(x[p, i]) * float(weight[o, i]) + float(acc))
            out[p, o] = acc + bias[o]
    return out


def test_linear_is_fused_and_in_input_order() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((300, 16)).astype(np.float32)
    weight = rng.standard_normal((5, 16)).astype(np.float32)
    bias = rng.standard_normal(5).astype(np.float32)
    got = linear(x, weight, bias)
    assert np.array_equal(got, fma_reference(x, weight, bias))
    unfused = np.zeros_like(got)  # the same sums without fusing differ somewhere
    for i in range(16):
        unfused = unfused + x[:, i : i + 1] * weight[:, i][None, :]
    assert not np.array_equal(got, unfused + bias)


def test_gelu_and_sine_round_once_from_float64() -> None:
    x = np.linspace(-6, 6, 2001, dtype=np.float32)
    expected = [np.float32(0.5 * float(v) * (1 + math.erf(float(v) / math.sqrt(2)))) for v in x]
    assert np.array_equal(gelu(x), np.array(expected, dtype=np.float32))
    omega = 30.0
    expected_sine = [np.float32(math.sin(float(np.float32(omega) * v))) for v in x]
    assert np.array_equal(sine(x, omega), np.array(expected_sine, dtype=np.float32))


def test_to_pixels_clamps_rounds_half_even_and_maps_non_finite() -> None:
    values = np.array(
        [np.nan, np.inf, -np.inf, -0.5, 1.5, 0.5 / 255, 1.5 / 255, 2.5 / 255], dtype=np.float32
    )
    scaled_half = np.rint(np.float32(0.5 / 255) * np.float32(255))
    assert samples_to_uint8(values).tolist() == [0, 255, 0, 0, 255, scaled_half, 2, 2]


@pytest.mark.parametrize("activation", ["relu", "gelu", "sine"])
def test_network_matches_torch_to_float_rounding(activation: str) -> None:
    torch.manual_seed(0)
    spec = NetworkSpec((8, 16, 16, 3), activation, 30.0 if activation == "sine" else 1.0)
    net = build_network(spec)
    tensors = [p.detach().numpy().copy() for p in net.ordered_parameters()]
    features = np.random.default_rng(2).standard_normal((4096, 8)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(features)).numpy()
    got = synthesize(features, spec, tensors)
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected)) < 1e-4
