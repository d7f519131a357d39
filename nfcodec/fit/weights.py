"""Choose each network tensor's quantisation step by measured rate-distortion cost (encoder only).

The latents are fixed (already rounded) while steps are searched, so the caller computes their
features once and reruns only the small network per candidate: a coordinate search over
tensors, each trying every step exponent in a window, keeping the lowest MSE + lambda * bpp.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from nfcodec.entropy import best_class, laplace_bits
from nfcodec.quant import dequantize, quantize

EXPONENT_RANGE = range(4, 14)


def tensor_bits(symbols: np.ndarray) -> float:
    return laplace_bits(symbols, best_class(symbols)) + 16.0  # + step and class bytes


def search_steps(
    params: list[torch.nn.Parameter],
    evaluate_mse: Callable[[int], float],
    lmbda: float,
    pixels: int,
    start_exponent: int = 8,
) -> tuple[list[np.ndarray], list[int]]:
    """Quantise `params` in place to the steps that minimise MSE + lmbda * bits / pixels.

    `evaluate_mse(index)` measures the MSE right after `params[index]` took a new step. Indices
    come in ascending order and the tensors before `index` already hold their final values, so
    the caller may keep whatever depends only on those (the input of that tensor's layer).
    """
    originals = [p.detach().cpu().numpy().astype(np.float64) for p in params]
    exponents = [start_exponent] * len(params)

    def apply(index: int, exponent: int) -> float:
        symbols = quantize(originals[index], exponent)
        with torch.no_grad():
            params[index].copy_(torch.from_numpy(dequantize(symbols, exponent)))
        return tensor_bits(symbols)

    bits = [apply(i, e) for i, e in enumerate(exponents)]
    for _ in range(1):
        for index in range(len(params)):
            best = (float("inf"), exponents[index])
            for exponent in EXPONENT_RANGE:
                bits[index] = apply(index, exponent)
                cost = evaluate_mse(index) + lmbda * sum(bits) / pixels
                best = min(best, (cost, exponent))
            exponents[index] = best[1]
            bits[index] = apply(index, exponents[index])
    symbols = [quantize(o, e) for o, e in zip(originals, exponents, strict=True)]
    return symbols, exponents
