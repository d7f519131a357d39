"""Encode time alone and beside a CPU-bound process, for each thread setting, bytes compared.

Each run is one `nfcodec encode` process (`--preset fast --target-bpp 1 --quiet`); a "busy" run
has `python -c "while True: pass"` started just before it and killed after it. Settings:
`auto` (the default: `nfcodec.threads` picks the count), `1` and `2` (`--threads N`; 2 was the
old default on a 2-core machine). Runs go one at a time, settings interleaved, `--repeats`
rounds. The table gives, per setting, the median wall seconds alone and beside the busy loop,
their ratio, and the encode's CPU seconds (threads spinning in waits show up there); all files
must be byte-identical, else the script fails.

The default image is the crop the threads notes use: kodim05, 256x192 from pixel (200, 150);
`--crop 0` encodes the whole image. Other processes on the machine skew every number: the
load average is printed at the start and the end, and the run is only a measurement when
the machine is otherwise idle.

    PYTHONPATH=. python scripts/bench_threads.py [--image kodim05.png] [--crop 0] \\
        [--settings auto 1 2] [--modes alone busy] [--repeats 1] [--out eval/results/threads]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_IMAGE = REPO_ROOT.parent / "shared" / "datasets" / "kodak" / "kodim05.png"
CROP = (200, 150, 256, 192)  # left, top, width, height
BUSY = "while True: pass"
BUSY_HEAD_START_S = 0.5  # the busy loop is running before the encode starts


def crop_image(image: Path, crop: tuple[int, int, int, int] | None, work: Path) -> Path:
    """The benchmark's input: `image` cut to `crop` (left, top, width, height), as a PNG."""
    if crop is None:
        return image
    from PIL import Image

    left, top, width, height = crop
    out = work / f"{image.stem}_{width}x{height}.png"
    with Image.open(image) as im:
        im.crop((left, top, left + width, top + height)).save(out)
    return out


def encode_once(source: Path, out: Path, setting: str, busy: bool) -> tuple[float, float, str]:
    """(wall s, CPU s of the encode process, sha256 of its file) for one encode."""
    argv = [sys.executable, "-m", "nfcodec", "encode", str(source), str(out),
            "--preset", "fast", "--target-bpp", "1", "--device", "cpu", "--quiet"]
    if setting != "auto":
        argv += ["--threads", setting]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    loop = subprocess.Popen([sys.executable, "-c", BUSY]) if busy else None
    try:
        if loop is not None:
            time.sleep(BUSY_HEAD_START_S)
        with tempfile.TemporaryFile() as errors:
            start = time.perf_counter()
            proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=errors)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0:
                errors.seek(0)
                raise SystemExit(f"{' '.join(argv)} failed: {errors.read().decode().strip()}")
    finally:
        if loop is not None:
            loop.kill()
            loop.wait()
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    return wall, usage.ru_utime + usage.ru_stime, digest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--crop", type=int, nargs="+", default=list(CROP),
                        help="LEFT TOP WIDTH HEIGHT, or 0 for the whole image")
    parser.add_argument("--settings", nargs="+", default=["auto", "1", "2"])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--modes", nargs="+", choices=["alone", "busy"], default=["alone", "busy"],
                        help="run alone, beside the busy loop, or both")
    parser.add_argument("--out", type=Path, default=None, help="write results.json here")
    args = parser.parse_args(argv)
    crop = None if args.crop == [0] else tuple(args.crop)
    if crop is not None and len(crop) != 4:
        parser.error("--crop takes LEFT TOP WIDTH HEIGHT, or 0")

    load_start = os.getloadavg()
    runs: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="bench-threads-") as tmp:
        work = Path(tmp)
        source = crop_image(args.image, crop, work)  # type: ignore[arg-type]
        for _ in range(args.repeats):
            for busy in [mode == "busy" for mode in args.modes]:
                for setting in args.settings:
                    wall, cpu, digest = encode_once(source, work / "out.nfc", setting, busy)
                    runs.append({"setting": setting, "busy": busy, "wall_s": wall,
                                 "cpu_s": cpu, "sha256": digest})
                    print(f"  {setting:>5} {'busy' if busy else 'alone':>5}: {wall:6.1f} s wall, "
                          f"{cpu:6.1f} s CPU, {digest[:12]}", flush=True)
    load_end = os.getloadavg()

    size = "whole image" if crop is None else f"{crop[2]}x{crop[3]} crop at ({crop[0]}, {crop[1]})"
    print(f"{args.image.name}, {size}, --preset fast --target-bpp 1, {args.repeats} round(s), "
          f"{os.cpu_count()} CPUs; load average (1, 5, 15 min) "
          f"{'/'.join(f'{v:.2f}' for v in load_start)} at the start, "
          f"{'/'.join(f'{v:.2f}' for v in load_end)} at the end")
    print(f"{'threads':<9}{'alone s':>9}{'busy s':>9}{'busy/alone':>12}{'CPU s alone':>13}"
          f"{'CPU s busy':>12}")
    rows = []
    for setting in args.settings:
        def median(key: str, busy: bool, setting: str = setting) -> float:
            values = [float(r[key]) for r in runs if r["setting"] == setting and r["busy"] is busy]
            return statistics.median(values) if values else math.nan
        alone, busy = median("wall_s", False), median("wall_s", True)
        cpu_alone, cpu_busy = median("cpu_s", False), median("cpu_s", True)
        print(f"{setting:<9}{alone:>9.1f}{busy:>9.1f}{busy / alone:>12.2f}{cpu_alone:>13.1f}"
              f"{cpu_busy:>12.1f}")
        rows.append({"threads": setting, "alone_s": alone, "busy_s": busy,
                     "cpu_alone_s": cpu_alone, "cpu_busy_s": cpu_busy})
    digests = {str(r["sha256"]) for r in runs}
    print(f"files: {'all byte-identical' if len(digests) == 1 else 'DIFFER'} "
          f"(sha256 {', '.join(sorted(d[:12] for d in digests))})")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        record = {"image": args.image.name, "crop": crop, "repeats": args.repeats,
                  "rows": rows, "runs": runs, "cpus": os.cpu_count(),
                  "machine": platform.machine(), "python": platform.python_version(),
                  "load_average_start": load_start, "load_average_end": load_end}
        (args.out / "results.json").write_text(json.dumps(record, indent=2) + "\n")
    return 0 if len(digests) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
