"""Benchmark the grid lookup backends on a 768x512 image; prints markdown tables.

    python scripts/bench_kernels.py [--reps 7] [--batch 65536]
    THP_MEM_ALLOC_ENABLE=1 python scripts/bench_kernels.py   # torch allocates with huge pages

Every backend is timed in the same run, interleaved, best of --reps (the least disturbed by
other processes). The machine's copy bandwidth is measured alongside so the kernels' effective
bandwidth can be read as a fraction of it, and the MLP that consumes the features is timed too.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable

import torch

from nfcodec.kernels import LevelGeometry, grid_features, level_geometry

HEIGHT, WIDTH = 768, 512
BACKENDS = ("torch", "separable", "fast")


def geometric(levels: int, lo: int, hi: int) -> list[int]:
    """Resolutions from lo to hi in a geometric progression."""
    return [round(lo * (hi / lo) ** (k / (levels - 1))) for k in range(levels)]


def best_ms(fns: dict[str, Callable[[], object]], reps: int) -> dict[str, float]:
    """Best wall time of each function in ms, runs interleaved after one warm-up each."""
    for fn in fns.values():
        fn()
    best = {name: float("inf") for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: 1e3 * t for name, t in best.items()}


def copy_bandwidth(reps: int) -> float:
    """GB/s of a 256 MiB tensor copy (bytes read + bytes written), the machine's yardstick."""
    src = torch.ones(64 * 2**20)
    dst = torch.empty_like(src)
    ms = best_ms({"copy": lambda: dst.copy_(src)}, reps)["copy"]
    return 2 * src.numel() * 4 / (ms * 1e-3) / 1e9


def lookup_timings(
    tables: list[torch.Tensor], levels: list[LevelGeometry], pixels: torch.Tensor | None,
    backends: tuple[str, ...], reps: int,
) -> dict[str, dict[str, float]]:
    """Forward, backward and forward+backward ms of each backend."""
    n = HEIGHT * WIDTH if pixels is None else pixels.shape[0]
    grad = torch.randn(n, len(levels) * tables[0].shape[1])

    def run(backend: str) -> torch.Tensor:
        return grid_features(tables, levels, HEIGHT, WIDTH, pixels=pixels, backend=backend)

    def forward(backend: str) -> Callable[[], object]:
        def go() -> object:
            with torch.no_grad():
                return run(backend)
        return go

    def both(backend: str) -> Callable[[], object]:
        return lambda: run(backend).backward(grad)

    fwd = best_ms({b: forward(b) for b in backends}, reps)
    fb = best_ms({b: both(b) for b in backends}, reps)
    bwd = {}
    for b in backends:  # time backward alone: a fresh graph per repetition
        outs = [run(b) for _ in range(reps + 1)]
        it = iter(outs)
        bwd[b] = best_ms({b: lambda it=it: next(it).backward(grad)}, reps)[b]
    for t in tables:
        t.grad = None
    return {b: {"fwd": fwd[b], "bwd": bwd[b], "fb": fb[b]} for b in backends}


def mlp_ms(inputs: int, n: int, reps: int) -> float:
    """Forward+backward ms of the field's MLP (in -> 32 -> 32 -> 3) on n rows."""
    net = torch.nn.Sequential(
        torch.nn.Linear(inputs, 32), torch.nn.ReLU(), torch.nn.Linear(32, 32), torch.nn.ReLU(),
        torch.nn.Linear(32, 3),
    )
    x = torch.randn(n, inputs, requires_grad=True)
    return best_ms({"mlp": lambda: net(x).square().mean().backward()}, reps)["mlp"]


def cold_start_s() -> str:
    """Seconds a fresh process needs for its first fwd+bwd (numba cache load or compile)."""
    code = (
        "import time; t=time.perf_counter(); import torch\n"
        "from nfcodec.kernels import grid_features, level_geometry\n"
        "lv=[level_geometry(64,48,r,8) for r in (4,64)]\n"
        "ts=[torch.randn(g.rows,2,requires_grad=True) for g in lv]\n"
        "grid_features(ts,lv,64,48).sum().backward()\n"
        "grid_features(ts,lv,64,48,pixels=torch.arange(9)).sum().backward()\n"
        "print(f'{time.perf_counter()-t:.2f}')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return done.stdout.strip() or done.stderr.strip()[-200:]


def report(name: str, levels: list[LevelGeometry], pixels: torch.Tensor | None,
           reps: int, bandwidth: float) -> None:
    """Time one configuration and print its markdown table."""
    features = 2
    gen = torch.Generator().manual_seed(0)
    tables = [
        torch.randn(g.rows, features, generator=gen).requires_grad_(True) for g in levels
    ]
    n = HEIGHT * WIDTH if pixels is None else pixels.shape[0]
    hashed = sum(not g.dense for g in levels)
    print(f"\n### {name}: {len(levels)} levels ({hashed} hashed), {n} pixels, F={features}\n")
    times = lookup_timings(tables, levels, pixels, BACKENDS, reps)
    table_bytes = sum(g.rows for g in levels) * features * 4
    io_bytes = n * len(levels) * features * 4 + table_bytes  # one pass over output and tables
    base = times["torch"]
    print("| backend | fwd ms | bwd ms | fwd+bwd ms | speed-up fwd+bwd | Glookups/s fwd "
          "| eff. GB/s fwd+bwd | % of copy BW |")
    print("|---|---|---|---|---|---|---|---|")
    for b, t in times.items():
        lookups = n * len(levels) / (t["fwd"] * 1e-3) / 1e9
        gbs = 2 * io_bytes / (t["fb"] * 1e-3) / 1e9
        print(f"| {b} | {t['fwd']:.1f} | {t['bwd']:.1f} | {t['fb']:.1f} | "
              f"{base['fb'] / t['fb']:.1f}x | {lookups:.3f} | {gbs:.2f} | "
              f"{100 * gbs / bandwidth:.0f}% |")
    mlp = mlp_ms(len(levels) * features, n, reps)
    fast = times["fast"]["fb"]
    print(f"\nMLP {len(levels) * features}->32->32->3 fwd+bwd: {mlp:.1f} ms; grid share of "
          f"grid+MLP: naive {base['fb'] / (base['fb'] + mlp):.0%}, fast {fast / (fast + mlp):.0%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--batch", type=int, default=2**16, help="random pixel batch size")
    args = parser.parse_args()
    thp = os.environ.get("THP_MEM_ALLOC_ENABLE", "0")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"THP_MEM_ALLOC_ENABLE={thp}; "
          f"cold start (fresh process, first fwd+bwd): {cold_start_s()} s")
    bandwidth = copy_bandwidth(args.reps)
    print(f"machine copy bandwidth: {bandwidth:.1f} GB/s")
    hashed = [level_geometry(HEIGHT, WIDTH, r, 14) for r in geometric(12, 16, 512)]
    dense = [level_geometry(HEIGHT, WIDTH, r, 20) for r in geometric(8, 8, 768)]
    batch = torch.randint(0, HEIGHT * WIDTH, (args.batch,), generator=torch.Generator())
    report("(a) 2^14 table, res 16..512, full image", hashed, None, args.reps, bandwidth)
    report("(b) 2^20 table, res 8..768, full image", dense, None, args.reps, bandwidth)
    report("(a) random batch", hashed, batch, args.reps, bandwidth)
    report("(b) random batch", dense, batch, args.reps, bandwidth)


if __name__ == "__main__":
    main()
