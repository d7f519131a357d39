"""Fused CPU kernel for the training rate proxy: bits and their gradients in one pass.

The torch formulation (`rate.laplace_bits` + `rate.grid_buckets_torch`) runs ~40 elementwise
passes over every latent per step, forward and backward; on a 768x512 image that was a third
of a training step. This kernel computes, per latent, its context bucket, its bits and the
derivatives with respect to the latent and to its bucket's log-scale, in one parallel loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import torch
from torch.autograd.function import once_differentiable

from nfcodec.context import ACTIVITY_CAP, BUCKET_OF_ACTIVITY, NUM_CONTEXTS

_LN2 = math.log(2.0)
_LOG_MIN_PROB = math.log(2.0**-24)
_BUCKETS = BUCKET_OF_ACTIVITY.astype(np.int64)


def _scale_constants(scales: np.ndarray) -> np.ndarray:
    """Per-(feature, bucket) constants so that a latent costs at most one exp and one log.

    Columns: 1/b, exp(-1/(2b)), the tail's log-probability offset log(0.5) + log(1 - e^(-1/b)),
    and that offset's derivative with respect to b.
    """
    inv = 1.0 / scales
    e1 = np.exp(-inv)
    one_minus = np.maximum(1.0 - e1, 1e-300)
    return np.stack(
        [inv, np.exp(-0.5 * inv), math.log(0.5) + np.log(one_minus), inv * inv * e1 / one_minus],
        axis=-1,
    )


@numba.njit(cache=True, inline="always", fastmath=True)
def _bits_and_grads(y: float, k: np.ndarray) -> tuple[float, float, float]:
    """(bits, d bits / d y, d bits / d b) of a unit-bin zero-mean Laplace at y.

    `k` holds the bucket's constants from `_scale_constants`. Tail (|y| >= 0.5):
    P = 0.5 e^(-(|y|-0.5)/b) (1 - e^(-1/b)), no transcendental per latent. Centre:
    P = 1 - 0.5 (e^(-(0.5-|y|)/b) + e^(-(0.5+|y|)/b)) = 1 - 0.5 h (1/t + t) with
    h = e^(-1/(2b)) and t = e^(-|y|/b): one exp and one log.
    """
    a = abs(y)
    sign = 1.0 if y >= 0.0 else -1.0
    inv = k[0]
    if a >= 0.5:
        log_p = k[2] - (a - 0.5) * inv
        dlogp_da = -inv
        dlogp_db = (a - 0.5) * inv * inv - k[3]
    else:
        t = math.exp(-a * inv)
        ea = k[1] / t
        eb = k[1] * t
        p = 1.0 - 0.5 * (ea + eb)
        if p < 1e-300:
            p = 1e-300
        log_p = math.log(p)
        dlogp_da = -0.5 * (ea - eb) * inv / p
        dlogp_db = -0.5 * (ea * (0.5 - a) + eb * (0.5 + a)) * inv * inv / p
    if log_p < _LOG_MIN_PROB:
        return -_LOG_MIN_PROB / _LN2, 0.0, 0.0
    return -log_p / _LN2, -dlogp_da * sign / _LN2, -dlogp_db / _LN2


CENTRE_STEPS = 128  # table segments over |y| in [0, 0.5]; linear interpolation within each
TASK_LATENTS = 8192  # smallest parallel work item; tables split into row ranges about this big
# Tasks per plan, whatever the thread count: the tasks group the partial sums, so a split
# that followed the threads would change the gradients (and the file) with them. 32 keeps
# prange's equal chunks balanced up to 8 threads.
PLAN_TASKS = 32
ACCUMULATORS = 4  # interleaved partial sums of the scale gradients (see `_rate_all`)
_MAX_BITS = -_LOG_MIN_PROB / _LN2

# Columns of `RatePlan.tables`.
T_ROWS, T_COLS, T_FEATURES, T_CONTEXT, T_SCALE = range(5)


@numba.njit(parallel=True, cache=True)
def _segment_table(constants, steps):  # pragma: no cover - jit
    """(S, steps + 1, 6): per segment of |y|, (value, slope) of bits, d/dy and d/db.

    Segment k < steps covers |y| in [k, k + 1) / (2 steps), interpolated between the exact
    formula's values at its ends: the centre bin holds most latents and costs an exp and a log
    each. Segment `steps` is the tail, where all three are exactly linear in |y| from 0.5 on.
    Slopes are per unit of position |y| * 2 steps, so a latent costs one lookup and three
    multiply-adds with no branch between centre and tail.
    """
    table = np.empty((constants.shape[0], steps + 1, 6))
    unit = 1.0 / (2 * steps)
    for s in numba.prange(constants.shape[0]):
        previous = _bits_and_grads(0.0, constants[s])
        for k in range(1, steps + 1):
            current = _bits_and_grads(min(k * unit, 0.5 - 1e-9), constants[s])
            for q in range(3):
                table[s, k - 1, 2 * q] = previous[q]
                table[s, k - 1, 2 * q + 1] = current[q] - previous[q]
            previous = current
        inv = constants[s, 0]
        table[s, steps, 0] = -constants[s, 2] / _LN2
        table[s, steps, 1] = inv * unit / _LN2
        table[s, steps, 2] = inv / _LN2
        table[s, steps, 3] = 0.0
        table[s, steps, 4] = constants[s, 3] / _LN2
        table[s, steps, 5] = -inv * inv * unit / _LN2
    return table


@numba.njit(inline="always", fastmath=True)
def _latent(y, s, table, steps):  # pragma: no cover - jit
    """(bits, d bits / d y, d bits / d b) of latent y under scale index s."""
    position = abs(y) * (2 * steps)
    k = min(int(position), steps)
    frac = position - k
    bits = table[s, k, 0] + frac * table[s, k, 1]
    if bits > _MAX_BITS:  # probability below 2^-24: constant cost, no gradient
        return _MAX_BITS, 0.0, 0.0
    g_a = table[s, k, 2] + frac * table[s, k, 3]
    g_b = table[s, k, 4] + frac * table[s, k, 5]
    return bits, (g_a if y >= 0.0 else -g_a), g_b


@numba.njit(parallel=True, cache=True, fastmath=True)
def _rate_all(  # pragma: no cover - jit
    planes, grads, tables, tasks, constants, buckets_of_activity, nb, cap
):
    """Bits of every latent of every table, with gradients, in one parallel pass.

    planes: one flat float32 array of latents per table, read in place (concatenating them
    cost a copy of every latent per step); grads: arrays of the same shapes that receive each
    latent's gradient; tables: `RatePlan.tables`; tasks: (K, 3) = (table, first row, end row);
    constants: (S, 4) per scale index, a plane's (feature, bucket) at its scale offset +
    feature * nb + bucket. Returns the total bits and the gradient of each scale.

    A grid table's row keeps the rounded magnitudes of the two rows above in zero-padded
    buffers, so each value is rounded once (not four times) and the context sum needs no edge
    tests. Scale gradients go to ACCUMULATORS interleaved partial sums: consecutive latents
    mostly share a bucket, and one accumulator made every latent wait for the previous add.
    The bits total has ACCUMULATORS partial sums for the same reason; only reports read its
    value (a gradient does not depend on it).
    """
    steps = CENTRE_STEPS
    table = _segment_table(constants, steps)
    n_scales = constants.shape[0]
    task_bits = np.zeros(tasks.shape[0])
    task_grad_scales = np.zeros((tasks.shape[0], n_scales))
    for task in numba.prange(tasks.shape[0]):
        t, r0, r1 = tasks[task, 0], tasks[task, 1], tasks[task, 2]
        values = planes[t]
        grad_values = grads[t]
        w = tables[t, T_COLS]
        nf = tables[t, T_FEATURES]
        context_rows = tables[t, T_CONTEXT]
        scale0 = tables[t, T_SCALE]
        acc = np.zeros((ACCUMULATORS, nf * nb))
        totals = np.zeros(ACCUMULATORS)
        if context_rows == 0:
            for r in range(r0 * w, r1 * w):
                for f in range(nf):
                    n = r * nf + f
                    bits, g_y, g_b = _latent(values[n], scale0 + f * nb, table, steps)
                    totals[r & (ACCUMULATORS - 1)] += bits
                    grad_values[n] = g_y
                    acc[r & (ACCUMULATORS - 1), f * nb] += g_b
        else:
            # Rounded magnitudes of rows i-2, i-1 and i per feature, one zero column either
            # side; each feature's row is walked as its own 1-D array.
            mags = np.zeros((3, nf, w + 2), dtype=np.float32)
            for back in (2, 1):
                if r0 - back >= 0:
                    row = (r0 - back) * w * nf
                    for j in range(w):
                        for f in range(nf):
                            mags[2 - back, f, j + 1] = abs(np.rint(values[row + j * nf + f]))
            up2, up1, cur = 0, 1, 2
            for i in range(r0, r1):
                row = i * w * nf
                for f in range(nf):
                    above2, above, here = mags[up2, f], mags[up1, f], mags[cur, f]
                    scale_f = scale0 + f * nb
                    for j in range(w):
                        act = above[j] + above[j + 1] + above[j + 2]
                        if context_rows > 1:
                            act += above2[j + 1]
                        bucket = buckets_of_activity[min(int(act), cap)]
                        n = row + j * nf + f
                        y = values[n]
                        here[j + 1] = abs(np.rint(y))
                        bits, g_y, g_b = _latent(y, scale_f + bucket, table, steps)
                        totals[j & (ACCUMULATORS - 1)] += bits
                        grad_values[n] = g_y
                        acc[j & (ACCUMULATORS - 1), f * nb + bucket] += g_b
                up2, up1, cur = up1, cur, up2
        task_bits[task] = totals.sum()
        for k in range(ACCUMULATORS):
            for s in range(nf * nb):
                task_grad_scales[task, scale0 + s] += acc[k, s]
    total = 0.0
    for task in range(tasks.shape[0]):  # in task order: `.sum()` here is a parallel reduction
        total += task_bits[task]
    return total, task_grad_scales.sum(axis=0)


@dataclass(frozen=True, eq=False)
class RatePlan:
    """Layout of a list of latent planes for `_rate_all`: built once per rate model."""

    tables: np.ndarray  # (T, 5) int64, columns T_*
    tasks: np.ndarray  # (K, 3) int64: table, first row, end row
    shapes: tuple[tuple[int, int, int], ...]  # (rows, cols, features) of each plane
    latents: int
    scales: int  # S = sum over tables of features * buckets


def rate_plan(shapes: list[tuple[int, int, int]], context_rows: list[int]) -> RatePlan:
    """Row-range tasks of about equal size over all planes (rows, cols, features), the same
    for any thread count.

    `context_rows` per plane (0 = no context: every latent in bucket 0).
    """
    latents = sum(h * w * f for h, w, f in shapes)
    task_size = max(TASK_LATENTS, latents // PLAN_TASKS)
    tables, tasks = [], []
    scale = 0
    for index, ((h, w, f), context) in enumerate(zip(shapes, context_rows, strict=True)):
        tables.append((h, w, f, context, scale))
        rows_per_task = max(1, task_size // (w * f))
        tasks.extend((index, r, min(h, r + rows_per_task)) for r in range(0, h, rows_per_task))
        scale += f * NUM_CONTEXTS
    return RatePlan(
        tables=np.array(tables, dtype=np.int64).reshape(-1, 5),
        tasks=np.array(tasks, dtype=np.int64).reshape(-1, 3),
        shapes=tuple(shapes),
        latents=latents,
        scales=scale,
    )


class FusedRate(torch.autograd.Function):
    """Bits of all latent tables under per-(table, feature, bucket) Laplace scales.

    Each table is read in place as its flat row-major layout (`RatePlan.shapes` gives the
    plane shape), so the gradients come back with the tables' own shapes and no view: autograd
    can then add the field's gradient into them in place instead of allocating a sum.
    """

    @staticmethod
    def forward(ctx, plan: RatePlan, scales: torch.Tensor, *tables: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        arrays = [t.detach().contiguous().numpy() for t in tables]
        grads = [np.empty_like(a) for a in arrays]
        bits, grad_scales = _rate_all(
            tuple(a.reshape(-1) for a in arrays),
            tuple(g.reshape(-1) for g in grads),
            plan.tables,
            plan.tasks,
            _scale_constants(scales.detach().double().numpy()),
            _BUCKETS,
            NUM_CONTEXTS,
            ACTIVITY_CAP,
        )
        ctx.grad_scales = torch.from_numpy(grad_scales).float()
        # Kept off save_for_backward so that backward holds the only reference to each.
        ctx.grad_tables = [torch.from_numpy(g) for g in grads]
        return scales.new_tensor(bits)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        grad_tables, ctx.grad_tables = ctx.grad_tables, None
        if grad_tables is None:
            raise RuntimeError("the rate proxy's backward runs once per forward")
        for g in grad_tables:
            g.mul_(grad_out)
        return None, grad_out * ctx.grad_scales, *grad_tables


def fused_rate(plan: RatePlan, scales: torch.Tensor, tables: list[torch.Tensor]) -> torch.Tensor:
    """Differentiable bits of float32 CPU latent `tables`, each laid out as `plan`'s plane.

    A table's values in row-major order are its plane (rows, cols, features); `scales` holds
    every plane's (features, buckets) scales flattened in plane order.
    """
    for table, shape in zip(tables, plan.shapes, strict=True):
        if table.numel() != math.prod(shape):
            raise ValueError(f"latent table of {table.numel()} values, plan expects {shape}")
    return FusedRate.apply(plan, scales, *tables)
