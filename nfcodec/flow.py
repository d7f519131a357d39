"""Optical flow by coordinate gradients through a fitted grid field (encoder side, torch).

After the multiscale hash-encoding paper (section 4.3): fit a hash-grid field to the first
image, then find the displacement `d` for which the field sampled at `x + d` matches the
second image at `x`, by gradient descent on `d` through the field. The field's smooth coarse
levels carry the gradient across many pixels, and its Lagrange interpolation (k = 2) gives
smoother coordinate gradients than bilinear. The result is backward flow: for each pixel `x`
of the second image, `second[x] ~ first[x + d(x)]`; `d` is (dy, dx) in pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from nfcodec.errors import InputError
from nfcodec.fields.hashgrid import HashGridConfig, HashGridField
from nfcodec.fit.trainer import stratified_batch
from nfcodec.kernels.continuous import sample_features

MODES = ("global", "patch", "pixel")


@dataclass(frozen=True)
class FlowSettings:
    """How to fit the reference field and search the displacement."""

    lagrange: bool = True  # every level of the field read by cubic Lagrange, else bilinearly
    mode: str = "patch"
    patch: int = 16  # patch side in pixels (mode "patch")
    fit_steps: int = 1500
    flow_steps: int = 400
    lr_flow: float = 0.5  # pixels per Adam step at the start
    smoothness: float = 0.05  # weight of neighbouring-displacement differences (patch, pixel)
    blur: float = 4.0  # Gaussian sigma (pixels) of the matching at the start, 0 by 3/4 of steps
    seed: int = 0


def _fit_field(image: torch.Tensor, lagrange: bool, steps: int, seed: int) -> HashGridField:
    """An MSE-only fit of the default hash grid to `image` (H, W, C) in [0, 1]."""
    height, width, channels = image.shape
    longer = max(height, width)
    config = HashGridConfig(
        coarsest_resolution=max(1, longer // 64), finest_resolution=longer,
        log2_table_size=22, cubic_levels=8 if lagrange else 0,
    )
    torch.manual_seed(seed)
    field = HashGridField(config, height, width, channels)
    target = image.reshape(-1, channels)
    optimiser = torch.optim.Adam(
        [{"params": field.latent_parameters(), "lr": 0.05},
         {"params": field.network_parameters(), "lr": 0.01}]
    )
    batch = max(1, target.shape[0] // 4)
    for step in range(steps):
        scale = 0.5 * (1 + math.cos(math.pi * step / steps))
        for group, base in zip(optimiser.param_groups, (0.05, 0.01), strict=True):
            group["lr"] = base * (0.05 + 0.95 * scale)
        pixels = stratified_batch(target.shape[0], batch)
        output = field.render(list(field.latent_parameters()), pixels)
        loss = torch.mean((output - target.index_select(0, pixels)) ** 2)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    return field


def _blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (H, W, C) with edge replication; sigma < 0.3 returns it.

    Matching blurred images first widens the basin the descent converges from (coarse to
    fine), so displacements of several pixels are found from a start at zero.
    """
    if sigma < 0.3:
        return image
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=image.dtype)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    x = image.permute(2, 0, 1)[:, None]  # (C, 1, H, W)
    x = torch.nn.functional.pad(x, (radius, radius, radius, radius), mode="replicate")
    x = torch.nn.functional.conv2d(x, kernel.view(1, 1, -1, 1))
    x = torch.nn.functional.conv2d(x, kernel.view(1, 1, 1, -1))
    return x[:, 0].permute(1, 2, 0)


def _expand(d: torch.Tensor, mode: str, patch: int, height: int, width: int) -> torch.Tensor:
    """Per-pixel (H, W, 2) displacement from the optimised variables."""
    if mode == "global":
        return d.view(1, 1, 2).expand(height, width, 2)
    if mode == "patch":
        rows = torch.arange(height) // patch
        cols = torch.arange(width) // patch
        return d[rows][:, cols]
    return d


def fit_reference(first: np.ndarray, settings: FlowSettings = FlowSettings()) -> HashGridField:
    """The field (frozen) that flow is searched through, fitted to `first` (H, W, C) uint8."""
    image = torch.from_numpy(first.astype(np.float32) / 255.0)
    field = _fit_field(image, settings.lagrange, settings.fit_steps, settings.seed)
    for p in field.parameters():
        p.requires_grad_(False)
    return field


def flow_through_field(
    field: HashGridField, second: np.ndarray, settings: FlowSettings = FlowSettings()
) -> np.ndarray:
    """Backward flow (H, W, 2) float32, (dy, dx) per pixel: second[x] ~ field(x + d(x))."""
    if settings.mode not in MODES:
        raise InputError(f"unknown flow mode {settings.mode!r}; choose from {', '.join(MODES)}")
    height, width, channels = second.shape
    if (height, width, channels) != (field.height, field.width, field.channels):
        raise InputError(
            f"images differ in size: {field.height}x{field.width}x{field.channels} vs "
            f"{height}x{width}x{channels}"
        )
    b = torch.from_numpy(second.astype(np.float32) / 255.0).reshape(-1, channels)
    latents = list(field.latent_parameters())
    if settings.mode == "global":
        d = torch.zeros(2)
    elif settings.mode == "patch":
        d = torch.zeros(-(-height // settings.patch), -(-width // settings.patch), 2)
    else:
        d = torch.zeros(height, width, 2)
    d.requires_grad_(True)
    optimiser = torch.optim.Adam([d], lr=settings.lr_flow)
    yy, xx = torch.meshgrid(
        torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32),
        indexing="ij",
    )
    for step in range(settings.flow_steps):
        cosine = 0.5 * (1 + math.cos(math.pi * step / settings.flow_steps))
        for group in optimiser.param_groups:
            group["lr"] = settings.lr_flow * (0.02 + 0.98 * cosine)
        full = _expand(d, settings.mode, settings.patch, height, width)
        y = (yy + full[..., 0]).reshape(-1)
        x = (xx + full[..., 1]).reshape(-1)
        features = sample_features(
            latents, field.geometries, height, width, y, x, field.config.cubic_levels
        )
        sigma = settings.blur * max(0.0, 1.0 - step / (0.75 * settings.flow_steps))
        difference = (field.synthesize(features) - b).reshape(height, width, channels)
        loss = torch.mean(_blur(difference, sigma) ** 2)
        if settings.mode != "global" and settings.smoothness > 0:
            loss = loss + settings.smoothness * (
                (d[1:] - d[:-1]).abs().mean() + (d[:, 1:] - d[:, :-1]).abs().mean()
            ) / max(height, width)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        return _expand(d, settings.mode, settings.patch, height, width).numpy().astype(np.float32)


def estimate_flow(
    first: np.ndarray, second: np.ndarray, settings: FlowSettings = FlowSettings()
) -> np.ndarray:
    """Backward flow from `first` to `second` (both (H, W, C) uint8); see the module text."""
    if first.shape != second.shape:
        raise InputError(f"images differ in size: {first.shape} vs {second.shape}")
    if settings.mode not in MODES:
        raise InputError(f"unknown flow mode {settings.mode!r}; choose from {', '.join(MODES)}")
    return flow_through_field(fit_reference(first, settings), second, settings)


def flow_to_rgb(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """Colour-coded flow (H, W, 3) uint8: hue = direction, brightness = magnitude."""
    dy, dx = flow[..., 0], flow[..., 1]
    magnitude = np.hypot(dx, dy)
    top = max_magnitude or float(magnitude.max()) or 1.0
    hue = (np.arctan2(-dy, -dx) / (2 * np.pi) + 0.5) * 6.0  # [0, 6)
    value = np.clip(magnitude / top, 0.0, 1.0)
    sector = np.floor(hue).astype(np.int64) % 6
    f = hue - np.floor(hue)
    ones, zero = np.ones_like(f), np.zeros_like(f)
    rising, falling = f, 1 - f
    # RGB of the hue wheel at full saturation, sector by sector
    r = np.choose(sector, [ones, falling, zero, zero, rising, ones])
    g = np.choose(sector, [rising, ones, ones, falling, zero, zero])
    bl = np.choose(sector, [zero, zero, rising, ones, ones, falling])
    rgb = np.stack([r, g, bl], axis=-1) * value[..., None] + (1 - value[..., None])
    return np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)

