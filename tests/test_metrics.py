"""Tests for MSE, PSNR and MS-SSIM, including values derived by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nfcodec.metrics import SCALE_WEIGHTS, ms_ssim, mse, psnr

C1 = (0.01 * 255) ** 2


def _noisy(img: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.normal(0.0, sigma, img.shape), 0, 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def textured() -> np.ndarray:
    """A smooth gradient plus texture, large enough for all five scales."""
    yy, xx = np.mgrid[0:192, 0:200]
    base = 128 + 60 * np.sin(xx / 9.0) * np.cos(yy / 13.0) + 0.2 * (xx - yy)
    rgb = np.stack([base, base[::-1], 255 - base], axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def test_psnr_hand_check() -> None:
    ref = np.zeros((4, 4, 3), dtype=np.uint8)
    test = ref.copy()
    test[0, 0, 0] = 255  # one of 48 samples off by 255
    assert mse(ref, test) == pytest.approx(255**2 / 48)
    assert psnr(ref, test) == pytest.approx(10 * math.log10(48))


def test_psnr_uniform_offset() -> None:
    ref = np.full((8, 8), 100, dtype=np.uint8)
    test = np.full((8, 8), 110, dtype=np.uint8)
    assert mse(ref, test) == 100.0
    assert psnr(ref, test) == pytest.approx(20 * math.log10(25.5))


def test_no_uint8_wraparound() -> None:
    ref = np.zeros((2, 2), dtype=np.uint8)
    test = np.full((2, 2), 255, dtype=np.uint8)
    assert mse(test, ref) == 255.0**2
    assert psnr(ref, test) == 0.0


def test_identical(textured: np.ndarray) -> None:
    assert psnr(textured, textured) == math.inf
    assert mse(textured, textured) == 0.0
    assert ms_ssim(textured, textured) == 1.0
    gray = textured[..., 0]
    assert ms_ssim(gray, gray) == 1.0


def test_monotone_in_noise(textured: np.ndarray) -> None:
    noisy = [_noisy(textured, s) for s in (2, 8, 20, 50)]
    psnrs = [psnr(textured, n) for n in noisy]
    scores = [ms_ssim(textured, n) for n in noisy]
    assert psnrs == sorted(psnrs, reverse=True)
    assert scores == sorted(scores, reverse=True)
    assert 0.0 < scores[-1] < scores[0] < 1.0


def test_symmetric(textured: np.ndarray) -> None:
    other = _noisy(textured, 15)
    assert ms_ssim(textured, other) == pytest.approx(ms_ssim(other, textured), rel=1e-12)
    assert psnr(textured, other) == psnr(other, textured)


def test_constant_images_known_value() -> None:
    # Flat images have zero variance, so every contrast-structure term is exactly 1 and
    # only the luminance term of the coarsest scale remains: MS-SSIM = l ** w5.
    a, b = 100.0, 110.0
    ref = np.full((176, 176), a, dtype=np.uint8)  # 176 = 11 * 16: exactly five scales fit
    test = np.full((176, 176), b, dtype=np.uint8)
    lum = (2 * a * b + C1) / (a * a + b * b + C1)
    assert ms_ssim(ref, test) == pytest.approx(lum ** SCALE_WEIGHTS[4], rel=1e-12)


def test_constant_images_renormalised_weights() -> None:
    # 32x32 fits two scales (32 and 16 >= 11, 8 < 11): weights rescale to sum to 1.
    a, b = 60.0, 90.0
    ref = np.full((32, 32, 3), a, dtype=np.uint8)
    test = np.full((32, 32, 3), b, dtype=np.uint8)
    lum = (2 * a * b + C1) / (a * a + b * b + C1)
    w2 = SCALE_WEIGHTS[1] / (SCALE_WEIGHTS[0] + SCALE_WEIGHTS[1])
    assert ms_ssim(ref, test) == pytest.approx(lum**w2, rel=1e-12)


def test_channels_are_averaged(textured: np.ndarray) -> None:
    other = _noisy(textured, 12)
    per_channel = [ms_ssim(textured[..., c], other[..., c]) for c in range(3)]
    assert ms_ssim(textured, other) == pytest.approx(np.mean(per_channel), rel=1e-12)


@pytest.mark.parametrize("shape", [(1, 1), (1, 1, 3), (5, 7, 3), (10, 40), (11, 11), (23, 300, 1)])
def test_small_images_defined(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(1)
    ref = rng.integers(0, 256, shape, dtype=np.uint8)
    test = _noisy(ref, 10)
    assert ms_ssim(ref, ref) == 1.0
    score = ms_ssim(ref, test)
    assert 0.0 <= score <= 1.0


def test_anticorrelated_clamps_to_zero(textured: np.ndarray) -> None:
    gray = textured[..., 0]
    assert ms_ssim(gray, 255 - gray) == 0.0


@pytest.mark.parametrize("metric", [mse, psnr, ms_ssim])
def test_shape_mismatch(metric) -> None:
    with pytest.raises(ValueError):
        metric(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))
    with pytest.raises(ValueError):
        metric(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 1), np.uint8))


@pytest.mark.parametrize("metric", [mse, psnr, ms_ssim])
def test_bad_rank(metric) -> None:
    with pytest.raises(ValueError):
        metric(np.zeros(5, np.uint8), np.zeros(5, np.uint8))
    with pytest.raises(ValueError):
        metric(np.zeros((0, 3), np.uint8), np.zeros((0, 3), np.uint8))
