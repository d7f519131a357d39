"""Bjøntegaard delta rate and delta PSNR between two rate-distortion curves.

BD-rate is the average relative rate difference at equal quality: log-rate is interpolated as
a function of PSNR for both curves, the gap is averaged over the PSNR interval both curves
cover, and exp() turns the mean log-ratio back into a percentage. Negative means the test
codec needs fewer bits than the anchor.

Two interpolations are offered:

* ``"pchip"`` (default): piecewise cubic Hermite (`scipy.interpolate.PchipInterpolator`),
  integrated exactly with its own `integrate`. It passes through every point and never
  overshoots between them, so a curve with many points is not bent by a global fit.
* ``"cubic"``: the original VCEG-M33 recipe, one least-squares cubic polynomial per curve,
  integrated analytically. Kept to compare with numbers published that way.

Each result states the interpolation and the interval it averaged over, so a table can quote
them; curves that do not overlap raise `NoOverlapError` rather than extrapolating.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["BDResult", "NoOverlapError", "bd_rate", "bd_psnr", "METHODS"]

Method = Literal["pchip", "cubic"]
METHODS: tuple[Method, ...] = ("pchip", "cubic")

_DESCRIPTIONS = {
    "pchip": "piecewise cubic Hermite (PCHIP), integrated exactly",
    "cubic": "least-squares cubic polynomial (VCEG-M33), integrated analytically",
}


class NoOverlapError(ValueError):
    """The two curves share no interval of the axis that is averaged over."""


@dataclass(frozen=True)
class BDResult:
    """One Bjøntegaard figure with what is needed to quote it honestly."""

    value: float
    """Percent for BD-rate (negative: test saves rate); dB for BD-PSNR (positive: test better)."""
    metric: Literal["bd-rate", "bd-psnr"]
    method: Method
    interpolation: str
    interval: tuple[float, float]
    """Averaging interval: PSNR in dB for BD-rate, bits per pixel for BD-PSNR."""
    interval_unit: str

    def describe(self) -> str:
        """One line for a report, e.g. '-12.34% (pchip over PSNR 28.10-36.20 dB)'."""
        lo, hi = self.interval
        if self.metric == "bd-rate":
            return f"{self.value:+.2f}% ({self.method} over PSNR {lo:.2f}-{hi:.2f} dB)"
        return f"{self.value:+.3f} dB ({self.method} over {lo:.3f}-{hi:.3f} bpp)"


def _prepare(
    rates: Sequence[float], psnrs: Sequence[float], label: str
) -> tuple[np.ndarray, np.ndarray]:
    """Validate one curve and return (log rate, psnr) as float arrays."""
    rate = np.asarray(rates, dtype=np.float64)
    psnr = np.asarray(psnrs, dtype=np.float64)
    if rate.shape != psnr.shape or rate.ndim != 1:
        raise ValueError(f"{label}: rates and PSNRs must be 1-D and equally long")
    if rate.size < 2:
        raise ValueError(f"{label}: need at least 2 points, got {rate.size}")
    if not (np.all(np.isfinite(rate)) and np.all(np.isfinite(psnr))):
        raise ValueError(f"{label}: rates and PSNRs must be finite")
    if np.any(rate <= 0):
        raise ValueError(f"{label}: rates must be positive, got {rate.tolist()}")
    return np.log(rate), psnr


def _integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float, method: Method) -> float:
    """Integral over [lo, hi] of the curve y(x) interpolated with `method`."""
    order = np.argsort(x)
    x, y = x[order], y[order]
    if np.any(np.diff(x) <= 0):
        raise ValueError(f"curve values must be strictly monotone, got {x.tolist()}")
    if method == "pchip":
        from scipy.interpolate import PchipInterpolator

        return float(PchipInterpolator(x, y).integrate(lo, hi))
    if method == "cubic":
        if x.size < 4:
            raise ValueError(f"the cubic method needs at least 4 points, got {x.size}")
        antiderivative = np.polyint(np.polyfit(x, y, 3))
        return float(np.polyval(antiderivative, hi) - np.polyval(antiderivative, lo))
    raise ValueError(f"unknown method {method!r}; choose one of: {', '.join(METHODS)}")


def _overlap(a: np.ndarray, b: np.ndarray, what: str) -> tuple[float, float]:
    lo = max(float(a.min()), float(b.min()))
    hi = min(float(a.max()), float(b.max()))
    if not hi > lo:
        raise NoOverlapError(
            f"the curves do not overlap in {what}: anchor {a.min():.4g}-{a.max():.4g}, "
            f"test {b.min():.4g}-{b.max():.4g}"
        )
    return lo, hi


def _mean_gap(
    anchor: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    lo: float,
    hi: float,
    method: Method,
) -> float:
    """Mean vertical distance test - anchor over [lo, hi]; each curve is (x, y)."""
    return (_integral(*test, lo, hi, method) - _integral(*anchor, lo, hi, method)) / (hi - lo)


def bd_rate(
    anchor_rate: Sequence[float],
    anchor_psnr: Sequence[float],
    test_rate: Sequence[float],
    test_psnr: Sequence[float],
    method: Method = "pchip",
) -> BDResult:
    """Average rate change (percent) of `test` against `anchor` at equal PSNR."""
    anchor_log, anchor_q = _prepare(anchor_rate, anchor_psnr, "anchor")
    test_log, test_q = _prepare(test_rate, test_psnr, "test")
    lo, hi = _overlap(anchor_q, test_q, "PSNR")
    mean_gap = _mean_gap((anchor_q, anchor_log), (test_q, test_log), lo, hi, method)
    return BDResult(
        value=100.0 * math.expm1(mean_gap),
        metric="bd-rate",
        method=method,
        interpolation=_DESCRIPTIONS[method] + ", log(rate) as a function of PSNR",
        interval=(lo, hi),
        interval_unit="dB",
    )


def bd_psnr(
    anchor_rate: Sequence[float],
    anchor_psnr: Sequence[float],
    test_rate: Sequence[float],
    test_psnr: Sequence[float],
    method: Method = "pchip",
) -> BDResult:
    """Average PSNR change (dB) of `test` against `anchor` at equal rate."""
    anchor_log, anchor_q = _prepare(anchor_rate, anchor_psnr, "anchor")
    test_log, test_q = _prepare(test_rate, test_psnr, "test")
    lo, hi = _overlap(anchor_log, test_log, "rate")
    mean_gap = _mean_gap((anchor_log, anchor_q), (test_log, test_q), lo, hi, method)
    return BDResult(
        value=mean_gap,
        metric="bd-psnr",
        method=method,
        interpolation=_DESCRIPTIONS[method] + ", PSNR as a function of log(rate)",
        interval=(math.exp(lo), math.exp(hi)),
        interval_unit="bpp",
    )
