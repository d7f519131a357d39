"""A plain `pip install .` (no extras) works: encode, decode, info and --help run with the
extras' modules unimportable.

CI installs every extra, which would hide a base-package import of scipy, matplotlib, Ray or the
harness; here a meta-path finder refuses them in a fresh interpreter, as if never installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from nfcodec.io import read_image, write_png
from tests.conftest import TEST_PRESET, TEST_STEPS, gradient_noise

EXTRAS_ONLY = ("scipy", "matplotlib", "ray", "nfcodec_eval", "pytest", "hypothesis")

# A None entry in sys.modules is Python's own "not importable": import raises
# ModuleNotFoundError and importlib.util.find_spec answers None, as for a missing package.
PRELUDE = f"""
import sys

for name in {EXTRAS_ONLY!r}:
    sys.modules[name] = None
if sys.argv[1] == "encode":
    from nfcodec.fit.presets import PRESETS, Preset
    PRESETS[{TEST_PRESET!r}] = Preset({TEST_PRESET!r}, steps={TEST_STEPS})
from nfcodec.cli import main
main(prog_name="nfcodec")
"""


def run_plain(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-c", PRELUDE, *map(str, args)],
        capture_output=True, text=True, timeout=240, env=env,
    )


def test_blocker_really_blocks() -> None:
    """The check can fail: code that needs an extra does fail under the blocker."""
    needs_scipy = PRELUDE.replace("from nfcodec.cli", "import scipy\nfrom nfcodec.cli")
    done = subprocess.run(
        [sys.executable, "-c", needs_scipy, "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and "ModuleNotFoundError" in done.stderr


def test_encode_decode_info_help_without_extras(tmp_path: Path) -> None:
    source, nfc, png = tmp_path / "in.png", tmp_path / "x.nfc", tmp_path / "out.png"
    write_png(gradient_noise(12, 16, 3), source)

    encode = run_plain("encode", source, nfc, "--preset", TEST_PRESET, "--device", "cpu")
    assert encode.returncode == 0, encode.stderr
    assert "bpp" in encode.stdout and "PSNR" in encode.stdout
    decode = run_plain("decode", nfc, png)
    assert decode.returncode == 0, decode.stderr
    assert read_image(png).shape == (12, 16, 3)
    info = run_plain("info", nfc)
    assert info.returncode == 0, info.stderr
    assert "16 x 12" in info.stdout
    helped = run_plain("--help")
    assert helped.returncode == 0, helped.stderr
    assert "decode" in helped.stdout and "sweep" not in helped.stdout
    assert np.array_equal(read_image(png), __import__("nfcodec").decode(nfc))
