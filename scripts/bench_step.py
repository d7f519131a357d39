"""Milliseconds per soft-phase training step of the default hashgrid field on one image.

For comparing two commits in the same hour (this machine's speed moves by up to ~1.6x between
hours): check both out side by side and alternate runs, e.g.

    git worktree add /tmp/old <commit>
    for i in 1 2 3; do
        (cd /tmp/old && PYTHONPATH=. python /path/to/main/scripts/bench_step.py)
        PYTHONPATH=. python scripts/bench_step.py
    done

Each run builds the field, fits a short warm-up (numba cache loads and JIT stay off the clock),
then times `--steps` soft steps of a preset's batch policy (`--preset`, medium by default) on a
fresh field. The latent learning rate is pinned (`--lr-latent`) so that commits with different
presets do the same work. With `--preset slow` the step includes the autoregressive model's
joint rate over every latent (the fused kernel), as the slow preset trains.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

DEFAULT_IMAGE = Path(__file__).resolve().parents[1].parent / "shared/datasets/kodak/kodim01.png"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--warmup", type=int, default=60)
    parser.add_argument("--lr-latent", type=float, default=0.3)
    parser.add_argument("--lmbda", type=float, default=2e-4)
    parser.add_argument("--preset", default="medium")
    args = parser.parse_args(argv)

    import nfcodec
    from nfcodec.codec import default_config
    from nfcodec.fields.registry import build_field
    from nfcodec.fit.arm_rate import ArmRateModel
    from nfcodec.fit.presets import PRESETS
    from nfcodec.fit.rate import RateModel
    from nfcodec.fit.trainer import fit_field

    pixels = np.asarray(Image.open(args.image).convert("RGB"))
    height, width, channels = pixels.shape
    target = torch.from_numpy(pixels.reshape(-1, channels).astype(np.float32) / 255.0)

    def build() -> tuple:
        torch.manual_seed(0)
        config = default_config("hashgrid", height, width, {})
        field = build_field(config, height, width, channels)
        tables = field.latent_tables()
        sample = 1.0 if preset.joint_rate else preset.entropy_model_sample  # as the codec does
        arm = ArmRateModel(tables, preset.entropy_model_hidden, sample)
        return field, RateModel(tables, config.context_rows), arm

    preset = replace(PRESETS[args.preset], hard_fraction=0.0, lr_latent=args.lr_latent)
    for steps in (args.warmup, args.steps):  # the second fit is the timed one
        field, rate, arm = build()
        start = time.perf_counter()
        fit_field(field, target, rate, replace(preset, steps=steps), args.lmbda, entropy_model=arm)
    ms = (time.perf_counter() - start) / args.steps * 1e3
    source = Path(nfcodec.__file__).resolve().parents[1]
    print(f"{ms:.2f} ms/step  {args.image.name}  {args.preset}  {args.steps} steps  from {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
