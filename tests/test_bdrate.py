"""Bjøntegaard maths on curves whose answer can be worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from nfcodec_eval.bdrate import METHODS, NoOverlapError, bd_psnr, bd_rate

RATES = [0.12, 0.25, 0.5, 0.9, 1.4, 2.0]
PSNRS = [26.0, 28.7, 31.5, 34.2, 36.4, 38.1]


@pytest.mark.parametrize("method", METHODS)
def test_identical_curves_give_zero(method: str) -> None:
    assert bd_rate(RATES, PSNRS, RATES, PSNRS, method).value == pytest.approx(0.0, abs=1e-12)
    assert bd_psnr(RATES, PSNRS, RATES, PSNRS, method).value == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("method", METHODS)
def test_rates_scaled_by_point_nine_is_minus_ten_percent(method: str) -> None:
    scaled = [0.9 * r for r in RATES]
    result = bd_rate(RATES, PSNRS, scaled, PSNRS, method)
    assert result.value == pytest.approx(-10.0, abs=1e-9)
    assert result.interval == (PSNRS[0], PSNRS[-1])
    assert result.method == method and result.interpolation


@pytest.mark.parametrize("method", METHODS)
def test_anchor_and_test_swapped_inverts_the_ratio(method: str) -> None:
    scaled = [0.9 * r for r in RATES]
    back = bd_rate(scaled, PSNRS, RATES, PSNRS, method).value
    assert back == pytest.approx(100.0 * (1 / 0.9 - 1), abs=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_psnr_shift_on_a_log_linear_curve(method: str) -> None:
    """PSNR = a + b ln(rate): +d dB equals scaling rate by exp(-d/b) at equal PSNR."""
    slope, shift = 4.0, 0.5
    rates = np.array([0.1, 0.2, 0.4, 0.8, 1.6, 3.2])
    psnr = 30.0 + slope * np.log(rates)
    delta_psnr = bd_psnr(rates, psnr, rates, psnr + shift, method)
    assert delta_psnr.value == pytest.approx(shift, abs=1e-9)
    assert delta_psnr.interval == pytest.approx((0.1, 3.2))
    delta_rate = bd_rate(rates, psnr, rates, psnr + shift, method)
    assert delta_rate.value == pytest.approx(100.0 * math.expm1(-shift / slope), abs=1e-9)
    # the PSNR interval is the overlap only: the shifted curve starts `shift` dB higher
    assert delta_rate.interval == pytest.approx((psnr[0] + shift, psnr[-1]))


def test_no_overlap_is_an_error() -> None:
    high = [p + 20.0 for p in PSNRS]
    with pytest.raises(NoOverlapError, match="do not overlap"):
        bd_rate(RATES, PSNRS, RATES, high)
    with pytest.raises(NoOverlapError):
        bd_psnr(RATES, PSNRS, [r * 100 for r in RATES], PSNRS)


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="positive"):
        bd_rate([0.0, 1.0], [30, 31], [0.5, 1.0], [30, 31])
    with pytest.raises(ValueError, match="at least 4"):
        bd_rate(RATES[:3], PSNRS[:3], RATES[:3], PSNRS[:3], "cubic")
    with pytest.raises(ValueError, match="unknown method"):
        bd_rate(RATES, PSNRS, RATES, PSNRS, "linear")  # type: ignore[arg-type]


def test_describe_quotes_method_and_range() -> None:
    text = bd_rate(RATES, PSNRS, [0.9 * r for r in RATES], PSNRS).describe()
    assert text.startswith("-10.00%") and "pchip" in text and "26.00-38.10 dB" in text
