"""Optical flow by coordinate gradients: recovers a known translation, colour coding, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from nfcodec.cli import main
from nfcodec.errors import InputError
from nfcodec.flow import FlowSettings, estimate_flow, flow_to_rgb
from nfcodec.io import write_png
from nfcodec.kernels import grid_features, level_geometry
from nfcodec.kernels.continuous import sample_features


def _texture(size: int, seed: int = 0) -> np.ndarray:
    """A smooth random texture (sum of low-frequency waves), uint8 RGB."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    image = np.zeros((size, size, 3))
    for _ in range(6):
        fy, fx = rng.uniform(-0.15, 0.15, size=2)
        phase = rng.uniform(0, 2 * np.pi)
        image += rng.uniform(0.2, 1.0, size=3) * np.sin(fy * yy + fx * xx + phase)[..., None]
    image = (image - image.min()) / (image.max() - image.min())
    return np.round(image * 255).astype(np.uint8)


@pytest.mark.parametrize("cubic_levels", [0, 2])
def test_continuous_lookup_matches_the_codec_at_pixel_centres(cubic_levels):
    h, w = 9, 14
    levels = [level_geometry(h, w, r, 6) for r in (2, 5, 14)]
    gen = torch.Generator().manual_seed(0)
    tables = [torch.randn(g.rows, 2, generator=gen) for g in levels]
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    at_centres = sample_features(tables, levels, h, w, yy.reshape(-1).float(),
                                 xx.reshape(-1).float(), cubic_levels)
    expected = grid_features(tables, levels, h, w, cubic_levels=cubic_levels)
    torch.testing.assert_close(at_centres, expected, rtol=0, atol=1e-5)


def test_lagrange_field_recovers_a_global_translation():
    big = _texture(72)
    ty, tx = 2, -3
    first = big[8:56, 8:56]
    second = big[8 - ty : 56 - ty, 8 - tx : 56 - tx]
    settings = FlowSettings(lagrange=True, mode="global",
                            fit_steps=300, flow_steps=150)
    flow = estimate_flow(first, second, settings)
    assert flow.shape == (48, 48, 2) and flow.dtype == np.float32
    np.testing.assert_allclose(flow[0, 0], [-ty, -tx], atol=0.5)


def test_flow_colours():
    flow = np.zeros((2, 3, 2), dtype=np.float32)
    flow[0, 1] = (0.0, 2.0)
    rgb = flow_to_rgb(flow)
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
    assert (rgb[1, 0] == 255).all()  # no motion is white
    assert not (rgb[0, 1] == 255).all()


def test_flow_rejects_mismatched_images_and_modes():
    with pytest.raises(InputError, match="differ in size"):
        estimate_flow(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))
    with pytest.raises(InputError, match="unknown flow mode"):
        estimate_flow(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3), np.uint8),
                      FlowSettings(mode="bogus"))


def test_flow_cli_writes_npy_and_png(tmp_path):
    image = _texture(24)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    write_png(image, a)
    write_png(np.roll(image, 1, axis=1), b)
    out, png = tmp_path / "flow.npy", tmp_path / "flow.png"
    result = CliRunner().invoke(main, ["flow", str(a), str(b), str(out), "--png", str(png),
                                       "--mode", "global", "--fit-steps", "50",
                                       "--flow-steps", "20"])
    assert result.exit_code == 0, result.output
    assert np.load(out).shape == (24, 24, 2) and png.stat().st_size > 0
    missing = CliRunner().invoke(main, ["flow", str(tmp_path / "nope.png"), str(b), str(out)])
    assert missing.exit_code == 1 and "nope.png" in missing.output
