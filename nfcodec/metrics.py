"""Quality metrics for 8-bit pictures: MSE, PSNR and MS-SSIM.

All metrics take a reference and a test image of identical shape, (H, W) or
(H, W, C), with 8-bit sample values (peak 255).  Arithmetic is float64.

MS-SSIM follows Wang, Simoncelli & Bovik (2003): an 11-tap Gaussian window
(sigma 1.5) applied in "valid" mode, K1 = 0.01, K2 = 0.03, five scales
weighted 0.0448, 0.2856, 0.3001, 0.2363, 0.1333, and 2x2 average
downsampling between scales (an odd trailing row or column is dropped).  The
contrast-structure terms of the first scales and the full SSIM of the last
scale are clamped at 0 before the fractional powers, so strongly
anti-correlated inputs give 0 rather than NaN.  Colour images are scored per
channel and the channel scores averaged.

Small images: a scale needs at least 11x11 pixels for one window position.
When fewer than five scales fit, only those are used and their weights are
rescaled to sum to 1.  Below 11 pixels on a side a single scale is used with
the window shrunk to the largest odd size that fits and sigma scaled by the
same factor, so every image, even 1x1, gets a defined score.
"""

from __future__ import annotations

import math

import numpy as np

PEAK = 255.0
WINDOW_SIZE = 11
WINDOW_SIGMA = 1.5
K1 = 0.01
K2 = 0.03
SCALE_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _pair(ref: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both images as float64, after checking they can be compared at all."""
    a = np.asarray(ref)
    b = np.asarray(test)
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {a.shape} vs {b.shape}")
    if a.ndim not in (2, 3) or a.size == 0:
        raise ValueError(f"expected a non-empty (H, W) or (H, W, C) image, got {a.shape}")
    return a.astype(np.float64), b.astype(np.float64)


def mse(ref: np.ndarray, test: np.ndarray) -> float:
    """Mean squared error over all pixels and channels."""
    a, b = _pair(ref, test)
    return float(np.mean(np.square(a - b)))


def psnr(ref: np.ndarray, test: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for peak 255; ``inf`` for identical images."""
    error = mse(ref, test)
    if error == 0.0:
        return math.inf
    return 10.0 * math.log10(PEAK * PEAK / error)


def ms_ssim(ref: np.ndarray, test: np.ndarray) -> float:
    """Multi-scale SSIM in [0, 1] (1 for identical images), averaged over channels."""
    a, b = _pair(ref, test)
    if a.ndim == 2:
        a, b = a[:, :, None], b[:, :, None]
    scores = [_ms_ssim_plane(a[:, :, c], b[:, :, c]) for c in range(a.shape[2])]
    return float(np.mean(scores))


def _gaussian_taps(size: int, sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian; the 2-D window is its outer product (separable)."""
    offsets = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    taps = np.exp(-(offsets**2) / (2.0 * sigma * sigma))
    return taps / taps.sum()


def _window_filter(plane: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Gaussian-weighted local means at every position where the window fits ("valid")."""
    from scipy import ndimage  # the `eval` extra: only MS-SSIM needs it, PSNR does not

    out = ndimage.correlate1d(plane, taps, axis=0, mode="constant")
    out = ndimage.correlate1d(out, taps, axis=1, mode="constant")
    r = len(taps) // 2
    return out[r : plane.shape[0] - r, r : plane.shape[1] - r]


def _ssim_terms(x: np.ndarray, y: np.ndarray, taps: np.ndarray) -> tuple[float, float]:
    """Mean contrast-structure term and mean full SSIM over the valid window positions."""
    c1 = (K1 * PEAK) ** 2
    c2 = (K2 * PEAK) ** 2
    mu_x = _window_filter(x, taps)
    mu_y = _window_filter(y, taps)
    var_x = _window_filter(x * x, taps) - mu_x * mu_x
    var_y = _window_filter(y * y, taps) - mu_y * mu_y
    cov = _window_filter(x * y, taps) - mu_x * mu_y
    cs_map = (2.0 * cov + c2) / (var_x + var_y + c2)
    lum_map = (2.0 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    return float(cs_map.mean()), float((lum_map * cs_map).mean())


def _scales_that_fit(height: int, width: int) -> int:
    """How many of the five scales still have room for one full window."""
    count = 0
    while count < len(SCALE_WEIGHTS) and min(height, width) >> count >= WINDOW_SIZE:
        count += 1
    return count


def _downsample(plane: np.ndarray) -> np.ndarray:
    """2x2 box average, dropping an odd last row/column."""
    h, w = plane.shape[0] // 2 * 2, plane.shape[1] // 2 * 2
    p = plane[:h, :w]
    return 0.25 * (p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2])


def _ms_ssim_plane(x: np.ndarray, y: np.ndarray) -> float:
    """MS-SSIM of one channel (see the module docstring for the small-image rules)."""
    scales = _scales_that_fit(*x.shape)
    if scales == 0:
        size = min(x.shape)
        size -= 1 - size % 2  # largest odd window that fits
        taps = _gaussian_taps(size, WINDOW_SIGMA * size / WINDOW_SIZE)
        return max(_ssim_terms(x, y, taps)[1], 0.0)
    weights = np.asarray(SCALE_WEIGHTS[:scales])
    if scales < len(SCALE_WEIGHTS):
        weights = weights / weights.sum()
    taps = _gaussian_taps(WINDOW_SIZE, WINDOW_SIGMA)
    score = 1.0
    for level, weight in enumerate(weights):
        cs, full = _ssim_terms(x, y, taps)
        last = level == scales - 1
        score *= max(full if last else cs, 0.0) ** weight
        if not last:
            x, y = _downsample(x), _downsample(y)
    return score
