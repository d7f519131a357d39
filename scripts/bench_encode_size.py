"""Time and peak memory of encoding, per megapixel, to size the encoder's big-input estimate.

Each size is encoded in a fresh process (peak RSS is per process) from a crop of one image,
with a short run of a preset's settings (`--steps`); per-step time scales to the full preset.
Times are CPU seconds of the one-threaded process (run with OMP_NUM_THREADS=1): on a shared
machine they are what a dedicated core would take, where wall time would measure the sharing.
Each size runs at two step counts; prints one JSON line per run and straight-line fits in
megapixels of the seconds per step (from the difference of the two fits), the seconds besides
the steps (start-up, quantisation search, the encoder's own decode) and the peak memory: the
constants nfcodec/fit/budget.py holds.

    python scripts/bench_encode_size.py ../shared/datasets/clic2020-sample/CLIC2020_3.png \
        --sides 256 512 1024 --steps 40 200
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

_CHILD = r"""
import json, resource, sys, time
import numpy as np
from PIL import Image
import nfcodec
import nfcodec.fit.trainer as trainer
from nfcodec.fit.presets import PRESETS, preset_named
from dataclasses import replace
source, side, preset, steps = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
PRESETS["size-probe"] = replace(preset_named(preset), name="size-probe", steps=steps)
image = np.asarray(Image.open(source).convert("RGB"))
height, width = min(side, image.shape[0]), min(side, image.shape[1])
crop = np.ascontiguousarray(image[:height, :width])
fit_cpu = []
real_fit = trainer.fit_field
def timed_fit(*args, **kwargs):
    began = time.process_time()
    try:
        return real_fit(*args, **kwargs)
    finally:
        fit_cpu.append(time.process_time() - began)
trainer.fit_field = timed_fit
start, start_cpu = time.perf_counter(), time.process_time()
result = nfcodec.encode_image(crop, preset="size-probe", device="cpu", allow_large=True)
print(json.dumps({"width": width, "height": height, "megapixels": width * height / 1e6,
                  "steps": steps, "wall_seconds": time.perf_counter() - start,
                  "cpu_seconds": time.process_time() - start_cpu, "fit_cpu_seconds": fit_cpu[0],
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares intercept and slope."""
    n = len(xs)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
    return mean_y - slope * mean_x, slope


def step_at(row: dict[str, float], a: float, b: float) -> float:
    """Seconds of `row`'s steps at a per-step time of a + b * megapixels."""
    return row["steps"] * (a + b * row["megapixels"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", type=Path)
    parser.add_argument("--sides", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--steps", type=int, nargs=2, default=[40, 200],
                        help="two step counts: their difference separates per-step time from "
                        "the fit's one-off start-up")
    args = parser.parse_args(argv)
    rows = []
    for side in args.sides:
        for steps in args.steps:
            out = subprocess.run(
                [sys.executable, "-c", _CHILD, str(args.image), str(side), args.preset,
                 str(steps)],
                capture_output=True, text=True, check=True,
            )
            row = json.loads(out.stdout.strip().splitlines()[-1])
            print(json.dumps(row), flush=True)
            rows.append(row)
    few, many = (r for r in rows if r["steps"] == args.steps[0]), (
        r for r in rows if r["steps"] == args.steps[1])
    pairs = list(zip(few, many, strict=True))
    mpx = [a["megapixels"] for a, _ in pairs]
    added = args.steps[1] - args.steps[0]
    step_a, step_b = fit_line(mpx, [(b["fit_cpu_seconds"] - a["fit_cpu_seconds"]) / added
                                    for a, b in pairs])
    other_a, other_b = fit_line(mpx, [b["cpu_seconds"] - step_at(b, step_a, step_b)
                                      for _, b in pairs])
    mem_c, mem_d = fit_line(mpx, [max(a["peak_mb"], b["peak_mb"]) for a, b in pairs])
    print(json.dumps({"seconds_per_step": [round(step_a, 4), round(step_b, 4)],
                      "other_seconds": [round(other_a, 2), round(other_b, 2)],
                      "peak_mb": [round(mem_c, 1), round(mem_d, 1)],
                      "meaning": "value = first + second * megapixels"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
