"""Grid lookup: normative geometry numbers, backend agreement, gradients, exactness."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nfcodec.kernels import LevelGeometry, grid_features, level_geometry
from nfcodec.kernels.geometry import (
    axis_samples,
    four_tap_axis_samples,
    lagrange_weights,
    vertex_index,
)
from nfcodec.kernels.reference import grid_features_torch

# ---------------------------------------------------------------- geometry, worked by hand


@pytest.mark.parametrize(
    ("h", "w", "n", "log2", "expected"),
    [
        # 768x512, N=16: 16*512/768 = 10.67 -> 11 columns; 17*12 = 204 vertices <= 2**14
        (768, 512, 16, 14, (16, 11, True, 204)),
        # N=512: 512*512/768 = 341.3 -> 341; 513*342 vertices > 2**14 -> hashed, 2**14 rows
        (768, 512, 512, 14, (512, 341, False, 16384)),
        # dense/hashed switch at exactly T vertices: 4*4 = 16 <= 16, 5*5 = 25 > 16
        (10, 10, 3, 4, (3, 3, True, 16)),
        (10, 10, 4, 4, (4, 4, False, 16)),
        # 1x1 image: every level keeps its resolution on both axes
        (1, 1, 1, 4, (1, 1, True, 4)),
        (1, 1, 5, 4, (5, 5, False, 16)),
        # tall and wide: the short side rounds half up and never drops below one cell
        (100, 3, 10, 8, (10, 1, True, 22)),
        (100, 3, 50, 8, (50, 2, True, 153)),
        (3, 100, 10, 8, (1, 10, True, 22)),
        # exact half rounds up: 6*1/4 = 1.5 -> 2
        (1, 4, 6, 8, (2, 6, True, 21)),
        (1, 4, 2, 8, (1, 2, True, 6)),
    ],
)
def test_level_geometry_worked_cases(h, w, n, log2, expected):
    g = level_geometry(h, w, n, log2)
    assert (g.cells_h, g.cells_w, g.dense, g.rows) == expected
    assert g.table_size == 2**log2


def test_vertex_index_dense_and_hashed():
    dense = LevelGeometry(cells_h=3, cells_w=4, table_size=64)
    assert vertex_index(dense, 2, 3) == 2 * 5 + 3
    hashed = LevelGeometry(cells_h=300, cells_w=300, table_size=2**16)
    # 2654435761 = 0x9E3779B1; 3 * that = 0x1DAA66D13 -> mod 2**32 0xDAA66D13, xor 5, low 16 bits
    assert vertex_index(hashed, 1, 0) == 0x79B1
    assert vertex_index(hashed, 3, 5) == 0x6D16
    arr = vertex_index(hashed, np.array([1, 3]), np.array([0, 5]))
    assert arr.tolist() == [0x79B1, 0x6D16]
    ten = vertex_index(hashed, torch.tensor([1, 3]), torch.tensor([0, 5]))
    assert ten.tolist() == [0x79B1, 0x6D16]


def test_axis_samples_worked():
    lower, frac = axis_samples(3, 2)  # centres at 1/3, 1, 5/3 cells
    assert lower.tolist() == [0, 1, 1]
    assert frac.dtype == np.float32
    assert frac.tolist() == [np.float32(1 / 3), 0.0, np.float32(2 / 3)]
    lower, frac = axis_samples(1, 5)  # 1x1 image samples the middle of the level
    assert lower.tolist() == [2] and frac.tolist() == [0.5]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.integers(1, 300))
def test_axis_samples_stay_inside(pixels, cells):
    lower, frac = axis_samples(pixels, cells)
    assert lower.min() >= 0 and lower.max() + 1 <= cells
    assert np.all(np.diff(lower) >= 0)
    assert np.all((frac >= 0) & (frac < 1))
    exact = (2 * np.arange(pixels) + 1) * cells / (2 * pixels)
    assert np.allclose(lower + frac.astype(np.float64), exact, atol=1e-6 * cells)


def test_level_geometry_rejects_nonsense():
    with pytest.raises(ValueError):
        level_geometry(0, 4, 2, 8)
    with pytest.raises(ValueError):
        level_geometry(4, 4, 0, 8)
    with pytest.raises(ValueError):
        level_geometry(4, 4, 2, 33)


# ---------------------------------------------------------------- lookups

CASES = [
    # (height, width, resolutions, log2_table_size, features)
    (24, 16, (2, 5, 16, 40), 6, 2),  # dense and hashed levels, resolution above pixel count
    (7, 33, (1, 3, 9), 5, 3),  # wide, odd sizes
    (40, 3, (4, 30), 7, 1),  # tall
    (1, 1, (1, 3), 4, 2),  # single pixel
]


def _setup(case, dtype=torch.float32, seed=0):
    h, w, res, log2, feats = case
    levels = [level_geometry(h, w, r, log2) for r in res]
    gen = torch.Generator().manual_seed(seed)
    tables = [torch.randn(g.rows, feats, generator=gen, dtype=dtype) for g in levels]
    return h, w, levels, tables


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("subset", [False, True])
def test_fast_matches_reference(case, subset):
    h, w, levels, tables = _setup(case)
    gen = torch.Generator().manual_seed(1)
    pixels = torch.randint(0, h * w, (2 * h * w + 3,), generator=gen) if subset else None
    tables64 = [t.double() for t in tables]
    ref = grid_features_torch(tables64, levels, h, w, pixels)
    fast = grid_features(tables, levels, h, w, pixels=pixels, backend="fast")
    torch_out = grid_features(tables, levels, h, w, pixels=pixels, backend="torch")
    separable = grid_features(tables, levels, h, w, pixels=pixels, backend="separable")
    n = h * w if pixels is None else pixels.shape[0]
    assert fast.shape == (n, len(levels) * tables[0].shape[1]) and fast.dtype == torch.float32
    torch.testing.assert_close(fast.double(), ref, rtol=0, atol=2e-6)
    torch.testing.assert_close(torch_out.double(), ref, rtol=0, atol=2e-6)
    torch.testing.assert_close(separable.double(), ref, rtol=0, atol=2e-6)

    weight = torch.randn(ref.shape, generator=gen, dtype=torch.float64)
    leaves64 = [t.requires_grad_(True) for t in tables64]
    g_ref = torch.autograd.grad((grid_features_torch(leaves64, levels, h, w, pixels) * weight)
                                .sum(), leaves64)
    leaves = [t.clone().requires_grad_(True) for t in tables]
    for backend in ("fast", "separable"):
        out = grid_features(leaves, levels, h, w, pixels=pixels, backend=backend)
        g_fast = torch.autograd.grad(out, leaves, weight.float())
        for a, b in zip(g_fast, g_ref, strict=True):
            torch.testing.assert_close(a.double(), b, rtol=1e-5, atol=1e-5)


def test_pixel_subset_selects_rows():
    h, w, levels, tables = _setup(CASES[0])
    full = grid_features(tables, levels, h, w)
    pixels = torch.tensor([0, 5, h * w - 1, 5])
    part = grid_features(tables, levels, h, w, pixels=pixels)
    torch.testing.assert_close(part, full[pixels], rtol=0, atol=1e-6)
    empty = grid_features(tables, levels, h, w, pixels=torch.zeros(0, dtype=torch.int64))
    assert empty.shape == (0, full.shape[1])


def test_reference_gradcheck():
    h, w, levels, tables = _setup((5, 4, (1, 3, 6), 4, 2), dtype=torch.float64)
    leaves = [t.requires_grad_(True) for t in tables]
    pixels = torch.tensor([0, 3, 7, 19, 7])
    assert torch.autograd.gradcheck(
        lambda *ts: grid_features_torch(ts, levels, h, w, pixels), leaves
    )


@pytest.mark.parametrize("backend", ["torch", "fast", "separable"])
def test_linear_function_reproduced_exactly(backend):
    h, w = 12, 20
    level = level_geometry(h, w, 7, 12)
    assert level.dense
    i = torch.arange(level.cells_h + 1, dtype=torch.float32)[:, None]
    j = torch.arange(level.cells_w + 1, dtype=torch.float32)[None, :]
    table = (0.25 * i - 0.5 * j + 3.0).reshape(-1, 1)
    out = grid_features([table], [level], h, w, backend=backend)[:, 0].reshape(h, w)
    v = (2 * torch.arange(h, dtype=torch.float64) + 1) * level.cells_h / (2 * h)
    u = (2 * torch.arange(w, dtype=torch.float64) + 1) * level.cells_w / (2 * w)
    expected = 0.25 * v[:, None] - 0.5 * u[None, :] + 3.0
    torch.testing.assert_close(out.double(), expected, rtol=0, atol=2e-6)


def test_auto_backend_and_validation():
    h, w, levels, tables = _setup(CASES[1])
    auto = grid_features(tables, levels, h, w)
    torch.testing.assert_close(auto, grid_features(tables, levels, h, w, backend="fast"))
    with pytest.raises(ValueError):
        grid_features(tables, levels, h, w, backend="cuda-magic")
    with pytest.raises(ValueError):
        grid_features(tables[:-1], levels, h, w)
    with pytest.raises(ValueError):
        grid_features([t[:-1] for t in tables], levels, h, w)
    with pytest.raises(IndexError):
        grid_features(tables, levels, h, w, pixels=torch.tensor([h * w]))


def test_fast_accepts_non_contiguous_and_accumulates_grad():
    h, w, levels, tables = _setup(CASES[0])
    strided = [t.t().contiguous().t() for t in tables]
    assert not strided[0].is_contiguous()
    torch.testing.assert_close(grid_features(strided, levels, h, w),
                               grid_features_torch(tables, levels, h, w), rtol=0, atol=1e-6)
    params = [t.clone().requires_grad_(True) for t in tables]
    for _ in range(2):
        grid_features(params, levels, h, w).sum().backward()
    leaves = [t.clone().requires_grad_(True) for t in tables]
    once = torch.autograd.grad(grid_features_torch(leaves, levels, h, w).sum(), leaves)
    for p, g in zip(params, once, strict=True):
        torch.testing.assert_close(p.grad, 2 * g, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- cubic Lagrange (format 2.1)


def test_lagrange_weights_worked_and_exact_on_cubics():
    w = lagrange_weights(np.array([0.0, 0.5], dtype=np.float32))
    assert w.dtype == np.float32
    np.testing.assert_array_equal(w[0], [0.0, 1.0, 0.0, 0.0])
    np.testing.assert_array_equal(w[1], [-0.0625, 0.5625, 0.5625, -0.0625])
    # Cubic Lagrange reproduces any cubic through the taps -1, 0, 1, 2.
    t = np.linspace(0, 1, 17, endpoint=False, dtype=np.float32)
    weights = lagrange_weights(t).astype(np.float64)
    points = np.array([-1.0, 0.0, 1.0, 2.0])
    cubic = 0.3 * points**3 - points**2 + 2.0 * points - 0.7
    expected = 0.3 * t.astype(np.float64) ** 3 - t**2 + 2.0 * t - 0.7
    np.testing.assert_allclose(weights @ cubic, expected, atol=1e-6)


def test_four_taps_clamp_to_the_grid():
    taps, weights = four_tap_axis_samples(5, 2, cubic=True)
    lower, frac = axis_samples(5, 2)
    assert taps.min() == 0 and taps.max() == 2
    np.testing.assert_array_equal(taps[:, 1], lower)
    np.testing.assert_array_equal(taps[:, 2], lower + 1)
    np.testing.assert_array_equal(weights, lagrange_weights(frac))
    _, linear = four_tap_axis_samples(5, 2, cubic=False)
    np.testing.assert_array_equal(linear[:, 1], np.float32(1) - frac)
    np.testing.assert_array_equal(linear[:, 2], frac)
    assert not linear[:, [0, 3]].any()


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("subset", [False, True])
@pytest.mark.parametrize("cubic_levels", [1, 2])
def test_four_tap_fast_is_bit_identical_to_reference(case, subset, cubic_levels):
    """Every path evaluates the specified order, so features agree bit for bit."""
    h, w, levels, tables = _setup(case)
    gen = torch.Generator().manual_seed(2)
    pixels = torch.randint(0, h * w, (2 * h * w + 3,), generator=gen) if subset else None
    ref = grid_features_torch(tables, levels, h, w, pixels, cubic_levels)
    for backend in ("fast", "torch", "separable"):
        out = grid_features(tables, levels, h, w, pixels=pixels, backend=backend,
                            cubic_levels=cubic_levels)
        assert torch.equal(out, ref), backend
    full = grid_features(tables, levels, h, w, cubic_levels=cubic_levels)
    if pixels is not None:
        assert torch.equal(full[pixels], ref)

    weight = torch.randn(ref.shape, generator=gen, dtype=torch.float64)
    leaves64 = [t.double().requires_grad_(True) for t in tables]
    g_ref = torch.autograd.grad(
        (grid_features_torch(leaves64, levels, h, w, pixels, cubic_levels) * weight).sum(),
        leaves64,
    )
    leaves = [t.clone().requires_grad_(True) for t in tables]
    out = grid_features(leaves, levels, h, w, pixels=pixels, cubic_levels=cubic_levels)
    g_fast = torch.autograd.grad(out, leaves, weight.float())
    for a, b in zip(g_fast, g_ref, strict=True):
        torch.testing.assert_close(a.double(), b, rtol=1e-5, atol=1e-5)


def test_lagrange_reproduces_a_quadratic_away_from_the_edges():
    """Inside the grid (no clamped taps) a quadratic in the vertex indices comes out exact."""
    h, w = 30, 30
    level = level_geometry(h, w, 10, 12)
    i = torch.arange(level.cells_h + 1, dtype=torch.float64)[:, None]
    j = torch.arange(level.cells_w + 1, dtype=torch.float64)[None, :]
    table = (0.05 * i * i - 0.1 * i * j + 0.2 * j + 1.0).reshape(-1, 1).float()
    out = grid_features([table], [level], h, w, cubic_levels=1)[:, 0].reshape(h, w)
    v = (2 * torch.arange(h, dtype=torch.float64) + 1) * level.cells_h / (2 * h)
    u = (2 * torch.arange(w, dtype=torch.float64) + 1) * level.cells_w / (2 * w)
    expected = 0.05 * v[:, None] ** 2 - 0.1 * v[:, None] * u[None, :] + 0.2 * u[None, :] + 1.0
    inside = (v >= 1) & (v < level.cells_h - 1)
    inner = inside[:, None] & ((u >= 1) & (u < level.cells_w - 1))[None, :]
    assert inner.sum() > 100
    torch.testing.assert_close(out.double()[inner], expected[inner], rtol=0, atol=1e-5)



def test_bilinear_levels_of_a_four_tap_file_match_plain_bilinear():
    """Levels past `cubic_levels` are bilinear: equal to the 2-tap path up to rounding."""
    h, w, levels, tables = _setup(CASES[0])
    plain = grid_features(tables, levels, h, w)
    mixed = grid_features(tables, levels, h, w, cubic_levels=1)
    f = tables[0].shape[1]
    torch.testing.assert_close(mixed[:, f:], plain[:, f:], rtol=0, atol=2e-6)
    assert not torch.allclose(mixed[:, :f], plain[:, :f])
