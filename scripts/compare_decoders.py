"""Decode real encodes with this tree's decoder and another tree's, and count differing samples.

The other tree (e.g. the torch decoder before issue 15: `git archive 9c995dd | tar -x -C DIR`)
encodes each case and decodes its own bytes in a subprocess; this tree then decodes the same
bytes. Prints, per case, how many uint8 samples differ and by how much at most.

    PYTHONPATH=. python scripts/compare_decoders.py --before-tree DIR [--preset fast]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
KODAK = REPO_ROOT.parent / "shared" / "datasets" / "kodak"

# (name, image, field, field options, permute, crop to 192x256)
CASES = [
    ("kodim01", "kodim01.png", "hashgrid", {}, False, False),
    ("kodim15", "kodim15.png", "hashgrid", {}, False, False),
    ("kodim23-permuted", "kodim23.png", "hashgrid", {}, True, False),
    ("kodim05-diner-mlp", "kodim05.png", "diner", {}, False, True),
    ("kodim05-diner-siren", "kodim05.png", "diner", {"backbone": 1}, True, True),
]

ENCODE = """
import json, sys
import numpy as np
import nfcodec
from nfcodec.io import read_image
case = json.loads(sys.argv[1])
image = read_image(case["image"])
if case["crop"]:
    image = image[:192, :256]
result = nfcodec.encode_image(image, case["nfc"], field=case["field"], preset=case["preset"],
                              permute=case["permute"], field_options=case["options"], device="cpu")
np.save(case["pixels"], nfcodec.decode(result.data))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before-tree", type=Path, required=True)
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--kodak", type=Path, default=KODAK)
    args = parser.parse_args(argv)

    from nfcodec.decoder import decode_bytes

    env = {**os.environ, "PYTHONPATH": str(args.before_tree.resolve())}
    with tempfile.TemporaryDirectory(prefix="compare-decoders-") as tmp:
        for name, image, field, options, permute, crop in CASES:
            case = {
                "image": str(args.kodak / image), "field": field, "options": options,
                "permute": permute, "crop": crop, "preset": args.preset,
                "nfc": str(Path(tmp) / f"{name}.nfc"), "pixels": str(Path(tmp) / f"{name}.npy"),
            }
            subprocess.run(
                [sys.executable, "-c", ENCODE, json.dumps(case)], check=True, env=env, cwd=tmp
            )
            before = np.load(case["pixels"])
            after = decode_bytes(Path(case["nfc"]).read_bytes())
            differ = before != after
            worst = int(np.abs(before.astype(np.int16) - after.astype(np.int16)).max())
            print(f"{name:<22} {field:<8} {before.shape}  differing samples "
                  f"{int(differ.sum())} of {differ.size}, max |difference| {worst}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
