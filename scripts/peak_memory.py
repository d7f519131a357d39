"""Peak resident memory of encoding and decoding one image, each in a fresh process.

    python scripts/peak_memory.py ../shared/datasets/clic2020-sample/alberto-montalesi-176097.png

Peak memory does not depend on the number of steps (every step allocates the same tensors,
and the final phase renders every pixel), so the encode uses a short preset unless --preset
is given; the time it prints is for that preset only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = r"""
import json, resource, sys, time
import nfcodec
from nfcodec.fit.presets import PRESETS, Preset
PRESETS["memory-probe"] = Preset("memory-probe", steps=60)
mode, source, nfc, preset = sys.argv[1:5]
start = time.perf_counter()
if mode == "encode":
    result = nfcodec.encode_image(source, nfc, preset=preset, lmbda=5e-4)
    extra = {"bpp": result.bpp, "psnr": result.psnr, "width": result.width, "height": result.height}
else:
    nfcodec.decode(nfc)
    extra = {}
seconds = time.perf_counter() - start
peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"mode": mode, "peak_mib": peak_mib, "seconds": seconds, **extra}))
"""


def measure(mode: str, source: Path, nfc: Path, preset: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, str(source), str(nfc), preset],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("image", type=Path)
    parser.add_argument("--preset", default="memory-probe", help="default: a 60-step probe")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        nfc = Path(folder) / "probe.nfc"
        encode = measure("encode", args.image, nfc, args.preset)
        decode = measure("decode", args.image, nfc, args.preset)
    size = f"{encode['width']}x{encode['height']}"
    print(f"{args.image.name} ({size}), preset {args.preset}:")
    print(f"  encode peak RSS {encode['peak_mib']:.0f} MiB ({encode['seconds']:.1f} s)")
    print(f"  decode peak RSS {decode['peak_mib']:.0f} MiB ({decode['seconds']:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
