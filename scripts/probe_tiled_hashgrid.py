"""Probe: the default hashgrid field with its first MLP layer(s) tiled as in Levels-of-Experts.

Not part of the codec; nothing in `nfcodec` imports it. Issue 16, item 4: does a cheap form of
spatial adaptivity (position-dependent synthesis weights, Hao et al., NeurIPS 2022) help the
default field at equal decode cost? With nearest selection a pixel multiplies by the matrix of
the weight-grid cell that holds it, so the MACs per pixel are unchanged; only the weights grow.

How it runs: the real encoder (`nfcodec.encode_image`, rate control on the exact coded size,
network step search, container writer) with `build_field` patched to return a hashgrid whose
network is a GELU `TiledStack` (nfcodec.fields.loe). The tiled weights are ordered network
parameters, so they are trained, quantised, entropy coded and counted in the file like any
weight. Each tiled layer starts as the untiled field's layer copied into every tile, so a
variant begins exactly where the baseline begins. The decoder cannot rebuild such a network
(the header still says plain hashgrid), so for tiled variants `decode_bytes` is patched out and
PSNR is measured on the torch model, which the codec leaves holding the dequantised weights and
is evaluated on the rounded latents. For the untiled baseline the same torch PSNR is printed
beside the real decoder's, as a check of the method.

Variants: `base`, or `t<tile>:s<scale>[,<scale>...]`: tile (a side) of matrices and, per tiled
layer from the first, log2 of the weight-grid cells a side (e.g. `t2:s1,2`, two layers, coarse
to fine). Results: eval/results/loe-in-hashgrid/NOTES.md.

    NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 NFCODEC_THREADS=1 PYTHONPATH=. \\
        python scripts/probe_tiled_hashgrid.py crop01.png crop05.png --variants base t2:s1 \\
        --preset medium --target-bpp 0.5 --out results.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import nfcodec
import nfcodec.codec as codec
from nfcodec.container import SectionKind
from nfcodec.container.nfc import read_nfc
from nfcodec.container.spec import TileSelection
from nfcodec.fields.config import LoeConfig, NetworkSpec
from nfcodec.fields.hashgrid import HashGridField
from nfcodec.fields.loe import POSITION_COLUMNS, TiledStack
from nfcodec.fields.mlp import LayerStack
from nfcodec.fields.registry import build_field
from nfcodec.metrics import psnr
from nfcodec.pixels import samples_to_uint8


class TiledGeluStack(TiledStack):
    """`TiledStack` with GELU between layers, tiled layers copied from an untiled `base` MLP."""

    def __init__(
        self, base: LayerStack, tile: int, scales: list[int], height: int, width: int
    ) -> None:
        shapes = [tuple(linear.weight.shape) for linear in base.linears]
        sizes = tuple([shapes[0][1]] + [out for out, _ in shapes])
        spec = NetworkSpec(sizes, "gelu", tiles=(tile * tile,) * len(scales))
        config = LoeConfig(tile=tile, tiled_layers=len(scales), selection=TileSelection.NEAREST)
        rng = torch.get_rng_state()  # the tiles' own random init is overwritten below: leave
        super().__init__(spec, config, height, width)  # the RNG where the baseline has it
        torch.set_rng_state(rng)
        self.scales = list(scales)  # explicit scales, any order
        with torch.no_grad():
            for mine, theirs in zip(self.linears, base.linears, strict=True):
                mine.weight.copy_(theirs.weight.expand_as(mine.weight))
                mine.bias.copy_(theirs.bias.expand_as(mine.bias))

    def activate(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(x)  # the hashgrid's exact (erf) GELU


class TiledHashGrid(HashGridField):
    """Hashgrid whose network reads the pixel's row and column after the grid features."""

    def __init__(self, config, height, width, channels, tile: int, scales: list[int]) -> None:
        super().__init__(config, height, width, channels)
        self.network = TiledGeluStack(self.network, tile, scales, height, width)

    def features(self, latents, pixels=None):
        grid = super().features(latents, pixels)
        index = (
            torch.arange(self.height * self.width, device=grid.device)
            if pixels is None
            else pixels.to(grid.device)
        )
        rows_cols = torch.stack([index // self.width, index % self.width], dim=1)
        return torch.cat([grid, rows_cols.to(grid.dtype)], dim=1)  # exact below 2**24


def parse_variant(text: str) -> tuple[int, list[int]] | None:
    if text == "base":
        return None
    tile, scales = text.split(":")
    return int(tile.removeprefix("t")), [int(s) for s in scales.removeprefix("s").split(",")]


def extra_weights(model: HashGridField) -> int:
    """Weights and biases beyond the untiled network's."""
    if not isinstance(model.network, TiledStack):
        return 0
    total = sum(p.numel() for p in model.network_parameters())
    plain = sum(p[0].numel() for p in model.network_parameters())
    return total - plain


def model_psnr(model: HashGridField, pixels_u8: np.ndarray) -> float:
    """8-bit PSNR of the torch model on its rounded latents, as the decoder would round."""
    latents = [torch.round(p.detach()) for p in model.latent_parameters()]
    with torch.no_grad():
        out = model.render(latents).cpu().numpy()
    return psnr(pixels_u8, samples_to_uint8(out).reshape(pixels_u8.shape))


def run_one(path: Path, variant: str, preset: str, target_bpp: float, seed: int) -> dict:
    parsed = parse_variant(variant)
    pixels_u8 = np.asarray(Image.open(path).convert("RGB"))
    built: list[HashGridField] = []

    def build(config, height, width, channels):
        model = (
            build_field(config, height, width, channels)
            if parsed is None
            else TiledHashGrid(config, height, width, channels, *parsed)
        )
        built.append(model)
        return model

    real_decode = codec.decode_bytes
    codec.build_field = build
    if parsed is not None:  # the decoder would refuse the longer weight stream
        codec.decode_bytes = lambda data, max_pixels=None: np.zeros_like(pixels_u8)
    try:
        start = time.perf_counter()
        result = nfcodec.encode_image(
            str(path), None, preset=preset, target_bpp=target_bpp, seed=seed, quiet=True
        )
        wall = time.perf_counter() - start
    finally:
        codec.build_field = build_field
        codec.decode_bytes = real_decode
    (model,) = built
    n = pixels_u8.shape[0] * pixels_u8.shape[1]
    weights = len(read_nfc(result.data).section(SectionKind.WEIGHTS))
    return {
        "image": path.name,
        "variant": variant,
        "bytes": len(result.data),
        "bpp": len(result.data) * 8.0 / n,
        "psnr": model_psnr(model, pixels_u8),
        "decoder_psnr": result.psnr if parsed is None else math.nan,
        "weight_bytes": weights,
        "extra_weights": extra_weights(model),
        "encode_seconds": result.encode_seconds,
        "wall_seconds": wall,
        "lmbda": result.lmbda,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--variants", nargs="+", default=["base"])
    parser.add_argument("--preset", default="medium")
    parser.add_argument("--target-bpp", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    assert POSITION_COLUMNS == 2
    for path in args.images:
        for variant in args.variants:
            row = run_one(path, variant, args.preset, args.target_bpp, args.seed)
            line = json.dumps(row)
            print(line, flush=True)
            if args.out is not None:
                with args.out.open("a") as f:
                    f.write(line + "\n")


if __name__ == "__main__":
    main()
