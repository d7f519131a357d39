"""The training rate proxy: fused kernel vs torch formulation, contexts, coded-size estimate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nfcodec.context import buckets_from_activity, grid_buckets, row_activity
from nfcodec.fields.base import LatentTable
from nfcodec.fit.rate import RateModel
from nfcodec.sections import TableLayout, encode_latents, latent_bits

TABLES = [LatentTable(35, 1, (5, 7)), LatentTable(40, 2, None), LatentTable(12, 2, (3, 4))]


def _bits_and_grads(
    fused: bool, context_rows: int
) -> tuple[float, list[torch.Tensor], list[torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    values = [
        (torch.randn(t.rows, t.features, generator=generator) * 2).requires_grad_() for t in TABLES
    ]
    model = RateModel(TABLES, context_rows, fused=fused)
    for log_scale in model.log_scales:
        log_scale.data = torch.linspace(-3.0, 2.0, log_scale.numel()).view_as(log_scale)
    bits = model.bits(values)
    bits.backward()
    return float(bits.detach()), [v.grad for v in values], [s.grad for s in model.log_scales]


@pytest.mark.parametrize("context_rows", [0, 1, 2])
def test_fused_kernel_matches_torch(context_rows: int) -> None:
    ref_bits, ref_values, ref_scales = _bits_and_grads(False, context_rows)
    bits, grad_values, grad_scales = _bits_and_grads(True, context_rows)
    # The centre bin is tabulated (128 points, linear interpolation): a 1e-4 relative proxy.
    assert bits == pytest.approx(ref_bits, rel=1e-4)
    # Interpolated gradients: within 0.5% where the Laplace is steepest (small scales).
    for a, b in zip(ref_values, grad_values, strict=True):
        torch.testing.assert_close(a, b, rtol=5e-3, atol=1e-3)
    for a, b in zip(ref_scales, grad_scales, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=3e-3)


@pytest.mark.parametrize("context_rows", [0, 2])
def test_fused_kernel_is_exact_in_the_tail(context_rows: int) -> None:
    """|y| >= 0.5 is a straight line in the kernel's table, not an interpolation: exact."""
    generator = torch.Generator().manual_seed(3)
    magnitudes = [0.5 + 4.5 * torch.rand(t.rows, t.features, generator=generator) for t in TABLES]
    signs = [torch.randint(0, 2, m.shape, generator=generator) * 2 - 1 for m in magnitudes]
    values = [(m * s).float() for m, s in zip(magnitudes, signs, strict=True)]
    model = RateModel(TABLES, context_rows, fused=True)
    for log_scale in model.log_scales:
        log_scale.data = torch.linspace(-1.0, 1.5, log_scale.numel()).view_as(log_scale)
    fused_in = [v.clone().requires_grad_() for v in values]
    bits = model.bits(fused_in)
    bits.backward()
    fused_scales = [s.grad.clone() for s in model.log_scales]
    model.zero_grad()
    model.fused = False
    exact_in = [v.double().requires_grad_() for v in values]
    exact = model.bits(exact_in)
    exact.backward()
    assert float(bits.detach()) == pytest.approx(float(exact.detach()), rel=1e-6)
    for a, b in zip(fused_in, exact_in, strict=True):
        torch.testing.assert_close(a.grad.double(), b.grad, rtol=1e-5, atol=1e-6)
    for a, b in zip(fused_scales, model.log_scales, strict=True):
        torch.testing.assert_close(a, b.grad, rtol=1e-5, atol=1e-5)


def test_rate_falls_as_latents_shrink() -> None:
    model = RateModel(TABLES, 2)
    big = [torch.full((t.rows, t.features), 3.0) for t in TABLES]
    small = [torch.full((t.rows, t.features), 1.0) for t in TABLES]
    with torch.no_grad():
        assert float(model.bits(small)) < float(model.bits(big))


@pytest.mark.parametrize("context_rows", [0, 1, 2])
def test_vectorised_buckets_match_the_decoders_row_rule(context_rows: int) -> None:
    plane = np.random.default_rng(1).integers(-6, 7, (19, 11))
    expected = np.zeros_like(plane)
    for i in range(1, plane.shape[0]):
        above2 = plane[i - 2] if i >= 2 else None
        expected[i] = buckets_from_activity(row_activity(plane[i - 1], above2, context_rows))
    np.testing.assert_array_equal(grid_buckets(plane, context_rows), expected)


def test_latent_bits_estimates_the_coded_size() -> None:
    rng = np.random.default_rng(2)
    layouts = [TableLayout(64 * 48, 1, (64, 48)), TableLayout(500, 2, None)]
    tables = [
        np.round(rng.laplace(0, 1.5, (64 * 48, 1))).astype(np.int32),
        np.round(rng.laplace(0, 0.4, (500, 2))).astype(np.int32),
    ]
    actual = 8 * len(encode_latents(tables, layouts, 2))
    assert latent_bits(tables, layouts, 2) == pytest.approx(actual, rel=0.03)


def test_fused_rate_gradient_adds_to_another_consumer() -> None:
    """The latents also feed the field: autograd must sum both gradients, scaled by the loss."""
    generator = torch.Generator().manual_seed(5)
    values = [(torch.randn(t.rows, t.features, generator=generator) * 2) for t in TABLES]
    model = RateModel(TABLES, 2, fused=True)
    unit = [v.clone().requires_grad_() for v in values]
    model.bits(unit).backward()
    model.zero_grad()
    alone = [v.clone().requires_grad_() for v in values]
    (3.0 * model.bits(alone)).backward()
    for a, u in zip(alone, unit, strict=True):
        torch.testing.assert_close(a.grad, 3.0 * u.grad)  # scaled by the loss weight
    model.zero_grad()
    both = [v.clone().requires_grad_() for v in values]
    weights = [torch.randn(v.shape, generator=generator) for v in values]
    other = sum((w * b).sum() for w, b in zip(weights, both, strict=True))
    (3.0 * model.bits(both) + other).backward()
    for a, b, w in zip(alone, both, weights, strict=True):
        torch.testing.assert_close(b.grad, a.grad + w, rtol=1e-6, atol=1e-6)


def test_fused_rate_rejects_a_table_of_the_wrong_size() -> None:
    model = RateModel(TABLES, 2, fused=True)
    values = [torch.zeros(t.rows, t.features) for t in TABLES]
    model.bits(values)  # builds the plan
    values[1] = torch.zeros(TABLES[1].rows - 1, TABLES[1].features)
    with pytest.raises(ValueError, match="plan expects"):
        model.bits(values)


def test_fused_rate_backward_twice_is_a_clear_error() -> None:
    model = RateModel(TABLES, 2, fused=True)
    values = [torch.randn(t.rows, t.features, requires_grad=True) for t in TABLES]
    bits = model.bits(values)
    bits.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="once per forward"):
        bits.backward()


# The fused kernel's float64 bits and scale gradients for ~600k latents (more than PLAN_TASKS
# minimal tasks), plan built and kernel run on 1, then 2 threads.
THREADS_PROBE = """
import hashlib, numba, numpy as np
from nfcodec.context import NUM_CONTEXTS
from nfcodec.fit import rate, rate_kernel
shapes = [(512, 768, 1), (256, 384, 2)]
rng = np.random.default_rng(0)
planes = tuple((rng.standard_normal(h * w * f) * 2).astype(np.float32) for h, w, f in shapes)
scales = np.linspace(0.05, 8.0, sum(f for _, _, f in shapes) * NUM_CONTEXTS)
for threads in (1, 2):
    numba.set_num_threads(threads)
    plan = rate_kernel.rate_plan(shapes, [2, 2])
    grads = tuple(np.empty_like(v) for v in planes)
    bits, grad_scales = rate_kernel._rate_all(
        planes, grads, plan.tables, plan.tasks, rate_kernel._scale_constants(scales),
        rate_kernel._BUCKETS, NUM_CONTEXTS, rate_kernel.ACTIVITY_CAP,
    )
    digest = hashlib.sha256(np.float64(bits).tobytes() + grad_scales.tobytes())
    for g in grads:
        digest.update(g.tobytes())
    print(digest.hexdigest())
"""


def test_fused_rate_gives_the_same_bits_on_any_thread_count() -> None:
    """The plan's tasks group the partial sums: they must not follow the thread count."""
    import os
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", THREADS_PROBE], capture_output=True, text=True, timeout=300,
        env={**os.environ, "NUMBA_NUM_THREADS": "2"},
    )
    assert done.returncode == 0, done.stderr
    one, two = done.stdout.split()
    assert one == two
