"""End-point error of flow by coordinate gradients on known translations: bilinear vs Lagrange.

The check of the multiscale hash-encoding paper's Table 2, at this machine's scale: crops of
Kodak images and the same crops moved by a known whole-pixel offset (so the second image is
an exact translation, not a resampling); a field is fitted to the first crop with each
interpolation, and the global and per-patch displacements are searched through it. EPE is
the mean distance between the found and the true displacement over the pixels at least
`margin` from the border. Prints one row per trial and the means.

    python scripts/flow_check.py --trials 6 --radius 6 [--blur 0]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from nfcodec.flow import FlowSettings, fit_reference, flow_through_field

DEFAULT_DATASET = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "kodak"


def trial_pairs(dataset: Path, trials: int, size: int, radius: int, seed: int):
    """(name, first, second, true backward flow) for `trials` random crops and offsets."""
    rng = np.random.default_rng(seed)
    files = sorted(dataset.glob("*.png"))
    for index in range(trials):
        path = files[rng.integers(len(files))]
        image = np.asarray(Image.open(path).convert("RGB"))
        while True:
            ty, tx = rng.integers(-radius, radius + 1, size=2)
            if ty or tx:
                break
        y0 = rng.integers(radius, image.shape[0] - size - radius)
        x0 = rng.integers(radius, image.shape[1] - size - radius)
        first = image[y0 : y0 + size, x0 : x0 + size]
        second = image[y0 - ty : y0 - ty + size, x0 - tx : x0 - tx + size]
        # second[x] = first[x - t]: the backward flow is -t everywhere
        yield f"{path.stem}#{index}", first, second, np.array([-ty, -tx], dtype=np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--radius", type=int, default=6)
    parser.add_argument("--margin", type=int, default=16)
    parser.add_argument("--fit-steps", type=int, default=600)
    parser.add_argument("--flow-steps", type=int, default=200)
    parser.add_argument("--blur", type=float, default=FlowSettings.blur,
                        help="starting Gaussian sigma of the coarse-to-fine matching (0 = off)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="write the rows as JSON lines")
    args = parser.parse_args(argv)
    rows = []
    m = args.margin
    for name, first, second, truth in trial_pairs(
        args.dataset, args.trials, args.size, args.radius, args.seed
    ):
        for interpolation in ("bilinear", "lagrange"):
            lagrange = interpolation == "lagrange"
            base = FlowSettings(lagrange=lagrange, fit_steps=args.fit_steps,
                                flow_steps=args.flow_steps, blur=args.blur)
            start = time.perf_counter()
            field = fit_reference(first, base)
            for mode in ("global", "patch"):
                settings = FlowSettings(lagrange=lagrange, mode=mode,
                                        fit_steps=args.fit_steps, flow_steps=args.flow_steps,
                                        blur=args.blur)
                flow = flow_through_field(field, second, settings)
                error = np.hypot(*(flow - truth).transpose(2, 0, 1))[m:-m, m:-m]
                row = {"trial": name, "truth": truth.tolist(),
                       "interpolation": interpolation, "mode": mode,
                       "epe": round(float(error.mean()), 4)}
                rows.append(row)
                print(json.dumps(row), flush=True)
            print(f"  ({time.perf_counter() - start:.1f} s)", flush=True)
    print("\nmean EPE (pixels)      global   patch")
    for interpolation in ("bilinear", "lagrange"):
        means = [np.mean([r["epe"] for r in rows if r["interpolation"] == interpolation
                          and r["mode"] == mode]) for mode in ("global", "patch")]
        print(f"  {interpolation:<20} {means[0]:7.3f} {means[1]:7.3f}")
    if args.out:
        args.out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
