"""Time and peak memory of the costliest files the default decode limits let through.

Each case is a tiny valid file built like the committed bombs (scripts/make_crafted_vectors.py)
but sized to the edge of the default budget (nfcodec.limits): the pixel limit with a tiny
network, the pixel limit with DINER and the permutation, the pixel limit with a network at the
full 4096 MACs per pixel, and the widest network at the largest image its cost allows. Each is
decoded in a fresh process; prints one JSON line per case.

    python scripts/bench_decode_budget.py [--scale 1.0]

`--scale 0.25` decodes a quarter of each pixel count (a quick look; times scale about linearly).
CPU seconds of the process (run with OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1) are what a
dedicated core takes; wall seconds on a shared machine also measure the sharing.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
VECTORS = Path(__file__).resolve().parents[1] / "bitstream" / "vectors"
WARM_UP = [str(VECTORS / "v2_hashgrid_rgb_24x16.nfc"), str(VECTORS / "v2_diner_mlp_rgb_12x8.nfc"),
           str(VECTORS / "diner_mlp_rgb_12x8.nfc")]

_CHILD = r"""
import json, resource, sys, time
import nfcodec
for warm in sys.argv[2:]:  # compile the numba kernels first: a one-off, not a per-file cost
    nfcodec.decode(warm)
start, start_cpu = time.perf_counter(), time.process_time()
pixels = nfcodec.decode(sys.argv[1])
print(json.dumps({"wall_seconds": time.perf_counter() - start,
                  "cpu_seconds": time.process_time() - start_cpu, "shape": list(pixels.shape),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def cases(scale: float) -> list[tuple[str, bytes]]:
    from make_crafted_vectors import WIDE_NETWORK, diner_bomb, hashgrid_bomb

    from nfcodec.limits import DEFAULT_MAX_PIXELS, work_budget

    side = int(math.isqrt(int(DEFAULT_MAX_PIXELS * scale)))  # 5792 x 5792 at scale 1
    wide_macs = 1 * 256 + 7 * 256 * 256 + 256 * 3 + 4  # levels 1, features 1
    wide_side = int(math.isqrt(int(work_budget(DEFAULT_MAX_PIXELS) * scale) // wide_macs))
    return [
        ("hashgrid, tiny network, pixel limit", hashgrid_bomb(side, side)),
        ("DINER + permutation, pixel limit", diner_bomb(side, side)),
        ("hashgrid, 4096 MACs/pixel (width 62 x 2), pixel limit",
         hashgrid_bomb(side, side, (62, 2))),
        ("hashgrid, widest network (256 x 8), work limit", hashgrid_bomb(wide_side, wide_side,
                                                                         WIDE_NETWORK)),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    from nfcodec.container import read_info
    from nfcodec.limits import decode_cost

    with tempfile.TemporaryDirectory() as folder:
        for name, data in cases(args.scale):
            path = Path(folder) / "case.nfc"
            path.write_bytes(data)
            cost = decode_cost(read_info(data).header)
            out = subprocess.run([sys.executable, "-c", _CHILD, str(path), *WARM_UP],
                                 capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            print(json.dumps({"case": name, "file_bytes": len(data), "pixels": cost.pixels,
                              "macs_per_pixel": cost.macs_per_pixel, "macs": cost.macs, **row}),
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
