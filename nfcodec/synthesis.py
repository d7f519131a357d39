"""The synthesis network in numpy/numba, exactly as bitstream/SPEC.md §11 defines it.

One function per layer type, each taking and returning float32 (pixels, channels) arrays, so a
new layer type (a spatial convolution, say) is one more function and one more case in
`synthesize`. The arithmetic is pinned down so every machine gets the same bits:
- `linear`: each output accumulates its inputs in index order with correctly rounded float32
  fused multiply-adds starting from 0, then adds the bias (LLVM's `llvm.fma`, never a BLAS
  whose blocking varies with the CPU and the matrix shape);
- `gelu`, `sine`: evaluated in float64 and rounded once to float32.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

from nfcodec.fields.config import NetworkSpec

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
LEAKY_SLOPE = 0.2  # the only Leaky ReLU slope the format has (LOE fields)
PIXEL_BLOCK = 256  # pixels per parallel task: large enough to amortise, small to share out
ACTIVATION_CODES = {"relu": 0, "gelu": 1, "sine": 2, "leaky_relu": 3}


@intrinsic
def _fma32(typingctx, a, b, c):  # type: ignore[no-untyped-def]
    """Correctly rounded float32 a * b + c (hardware FMA, or LLVM's exact software fallback)."""
    signature = types.float32(types.float32, types.float32, types.float32)

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        f32 = ir.FloatType()
        fma = builder.module.declare_intrinsic(
            "llvm.fma", [f32], ir.FunctionType(f32, [f32, f32, f32])
        )
        return builder.call(fma, args)

    return signature, codegen


@njit(inline="always")
def _activation(v: np.float32, code: int, omega: np.float32) -> np.float32:
    """Activation `code` (ACTIVATION_CODES; -1 none) of one value, as the functions below."""
    if code == 0:
        return v if (v > 0 or v != v) else np.float32(0.0)  # as np.maximum: NaN stays, -0 -> +0
    if code == 1:
        d = np.float64(v)
        return np.float32(0.5 * d * (1.0 + math.erf(d * _INV_SQRT2)))
    if code == 2:
        return np.float32(math.sin(np.float64(omega * v)))
    if code == 3:
        return v if v > 0 else v * np.float32(LEAKY_SLOPE)
    return v


@njit(parallel=True, cache=True)
def _layer_kernel(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    code: int,
    omega: np.float32,
    out: np.ndarray,
) -> None:
    """x W^T + b per pixel block, each output's inputs fused-multiply-added in index order from 0,
    then activation `code` over the block's outputs while they are in cache (-1: none)."""
    n, n_in = x.shape
    n_out = weight.shape[0]
    for block in prange((n + PIXEL_BLOCK - 1) // PIXEL_BLOCK):
        stop = min(n, (block + 1) * PIXEL_BLOCK)
        for p in range(block * PIXEL_BLOCK, stop):
            for o in range(n_out):
                acc = np.float32(0.0)
                for i in range(n_in):
                    acc = _fma32(x[p, i], weight[o, i], acc)
                out[p, o] = acc + bias[o]
        if code >= 0:
            for p in range(block * PIXEL_BLOCK, stop):
                for o in range(n_out):
                    out[p, o] = _activation(out[p, o], code, omega)


@njit(parallel=True, cache=True)
def _tiled_linear_kernel(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    taps: np.ndarray,
    blend: np.ndarray,
    out: np.ndarray,
) -> None:
    n, n_in = x.shape
    n_out = weight.shape[1]
    n_taps = taps.shape[1]
    for block in prange((n + PIXEL_BLOCK - 1) // PIXEL_BLOCK):
        for p in range(block * PIXEL_BLOCK, min(n, (block + 1) * PIXEL_BLOCK)):
            for o in range(n_out):
                total = np.float32(0.0)
                for k in range(n_taps):
                    t = taps[p, k]
                    acc = np.float32(0.0)
                    for i in range(n_in):
                        acc = _fma32(x[p, i], weight[t, o, i], acc)
                    value = acc + bias[t, o]
                    total = value if n_taps == 1 else _fma32(blend[p, k], value, total)
                out[p, o] = total


@njit(parallel=True, cache=True)
def _gelu_kernel(x: np.ndarray, out: np.ndarray) -> None:
    for p in prange(x.size):
        v = np.float64(x[p])
        out[p] = np.float32(0.5 * v * (1.0 + math.erf(v * _INV_SQRT2)))


@njit(parallel=True, cache=True)
def _sine_kernel(x: np.ndarray, omega: np.float32, out: np.ndarray) -> None:
    for p in prange(x.size):
        out[p] = np.float32(math.sin(np.float64(omega * x[p])))


def linear(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray, code: int = -1, omega: float = 1.0
) -> np.ndarray:
    """x W^T + b for x (N, in), W (out, in), b (out,), all float32; then activation `code`
    (ACTIVATION_CODES, -1 for none)."""
    out = np.empty((x.shape[0], weight.shape[0]), dtype=np.float32)
    _layer_kernel(np.ascontiguousarray(x), weight, bias, code, np.float32(omega), out)
    return out


def tiled_linear(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray, taps: np.ndarray, blend: np.ndarray
) -> np.ndarray:
    """Position-dependent linear: pixel p's output is sum_k blend[p, k] * (x W_t^T + b_t) over
    its taps t = taps[p, k], W (tiles, out, in), b (tiles, out); one tap means no blending."""
    out = np.empty((x.shape[0], weight.shape[1]), dtype=np.float32)
    _tiled_linear_kernel(np.ascontiguousarray(x), weight, bias, taps, blend, out)
    return out


def leaky_relu(x: np.ndarray) -> np.ndarray:
    """x for x > 0, else the float32 product 0.2 * x (the LoE supplement's slope)."""
    return np.where(x > 0, x, x * np.float32(LEAKY_SLOPE)).astype(np.float32, copy=False)


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, np.float32(0.0))  # NaN stays NaN, as in torch.relu


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU, x * (1 + erf(x / sqrt(2))) / 2."""
    out = np.empty(x.shape, dtype=np.float32)
    _gelu_kernel(np.ascontiguousarray(x).reshape(-1), out.reshape(-1))
    return out


def sine(x: np.ndarray, omega: float) -> np.ndarray:
    """SIREN activation sin(omega * x); the product is rounded to float32 first."""
    out = np.empty(x.shape, dtype=np.float32)
    _sine_kernel(np.ascontiguousarray(x).reshape(-1), np.float32(omega), out.reshape(-1))
    return out


def activate(x: np.ndarray, network: NetworkSpec) -> np.ndarray:
    if network.activation == "relu":
        return relu(x)
    if network.activation == "gelu":
        return gelu(x)
    if network.activation == "sine":
        return sine(x, network.omega)
    if network.activation == "leaky_relu":
        return leaky_relu(x)
    raise ValueError(f"unknown activation {network.activation!r}")


def synthesize(
    features: np.ndarray, network: NetworkSpec, tensors: Sequence[np.ndarray]
) -> np.ndarray:
    """Network output (N, channels) from features (N, n_in); `tensors` in wire order
    (weight (out, in), then bias, per layer), float32."""
    x = np.ascontiguousarray(features, dtype=np.float32)
    shapes = network.layer_shapes()
    code = ACTIVATION_CODES[network.activation]
    for index, shape in enumerate(shapes):
        weight = np.ascontiguousarray(tensors[2 * index], dtype=np.float32).reshape(shape)
        bias = np.ascontiguousarray(tensors[2 * index + 1], dtype=np.float32)
        last = index == len(shapes) - 1
        x = linear(x, weight, bias, -1 if last else code, network.omega)
    return x


def synthesize_tiled(
    features: np.ndarray,
    network: NetworkSpec,
    tensors: Sequence[np.ndarray],
    taps: Sequence[tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    """`synthesize` for a network whose first len(taps) layers hold tiles of matrices;
    taps[l] = (tap indices (N, K), blend weights (N, K)) of layer l's pixels."""
    x = np.ascontiguousarray(features, dtype=np.float32)
    shapes = network.layer_shapes()
    for index, ((out, inp), tiles) in enumerate(zip(shapes, network.layer_tiles(), strict=True)):
        weight = np.ascontiguousarray(tensors[2 * index], dtype=np.float32)
        bias = np.ascontiguousarray(tensors[2 * index + 1], dtype=np.float32)
        if index < len(taps):
            layer_taps, blend = taps[index]
            x = tiled_linear(
                x, weight.reshape(tiles, out, inp), bias.reshape(tiles, out), layer_taps, blend
            )
        else:
            x = linear(x, weight.reshape(out, inp), bias)
        if index < len(shapes) - 1:
            x = activate(x, network)
    return x
