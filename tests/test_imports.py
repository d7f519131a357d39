"""Import rules, checked in fresh interpreters: decoding and `info` never load the encoder.

`nfcodec.decode`, `nfcodec.read_info` and the CLI's `decode`, `info` and `--help` must not import
torch, the fitting code, the torch field classes, the harness or plotting. `info` and `--help`
stay on the standard library (plus click and Pillow). scipy may be looked up only by numba itself
(its version check, and its BLAS probe on the first compile when scipy is installed); the
console command's decode hides scipy and cffi from those probes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VECTOR = ROOT / "bitstream" / "vectors" / "v2_hashgrid_rgb_24x16.nfc"

ENCODER_ONLY = (
    "torch",
    "nfcodec.fit",
    "nfcodec.codec",
    "nfcodec.fields.base",
    "nfcodec.fields.mlp",
    "nfcodec.fields.hashgrid",
    "nfcodec.fields.diner",
    "nfcodec.fields.registry",
    "nfcodec.kernels.fast",
    "nfcodec.kernels.reference",
    "nfcodec.kernels.separable",
    "nfcodec.metrics",
    "nfcodec_eval",
    "matplotlib",
    "ray",
)
HEAVY = ("numpy", "numba", "constriction", "llvmlite")

# Runs ACTION, then prints the loaded modules and the call stacks of every scipy import.
PROBE = """
import json, sys, traceback

class ScipyWatch:
    stacks = []
    def find_spec(self, name, path=None, target=None):
        if name == "scipy":
            ScipyWatch.stacks.append([f.filename for f in traceback.extract_stack()])
        return None

sys.meta_path.insert(0, ScipyWatch())
try:
    {action}
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
print("\\nPROBE " + json.dumps({{"modules": sorted(sys.modules), "scipy": ScipyWatch.stacks}}))
"""

ACTIONS = {
    "api_decode": f"import nfcodec; nfcodec.decode({str(VECTOR)!r})",
    "api_read_info": f"import nfcodec; nfcodec.read_info({str(VECTOR)!r})",
    "cli_decode": (
        "from nfcodec.cli import main; "
        f"main(['decode', {str(VECTOR)!r}, sys.argv[1], '--quiet'])"
    ),
    "cli_info": f"from nfcodec.cli import main; main(['info', {str(VECTOR)!r}])",
    "cli_help": "from nfcodec.cli import main; main(['--help'])",
    "python_m_help": "import runpy; sys.argv = ['nfcodec', '--help']; "
    "runpy.run_module('nfcodec', run_name='__main__')",
}
LIGHT = {"api_read_info", "cli_info", "cli_help", "python_m_help"}


def probe(action: str, tmp_path: Path) -> dict:
    script = PROBE.format(action=ACTIONS[action])
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "out.png")],
        capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    line = next(s for s in done.stdout.splitlines() if s.startswith("PROBE "))
    return json.loads(line[len("PROBE "):])


def importer(stack: list[str]) -> str:
    """The file whose code asked for the import: the last frame outside importlib and the probe."""
    return [f for f in stack[:-1] if not f.startswith("<frozen")][-1]


def loaded(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == n or m.startswith(n + ".") for n in names)]


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_decoding_side_never_loads_the_encoder(action: str, tmp_path: Path) -> None:
    result = probe(action, tmp_path)
    assert loaded(result["modules"], ENCODER_ONLY) == []
    for stack in result["scipy"]:
        assert "/numba/" in importer(stack).replace("\\", "/"), stack
    if action in LIGHT:
        assert loaded(result["modules"], HEAVY) == []
        assert result["scipy"] == []
    if action == "cli_decode":
        assert (tmp_path / "out.png").stat().st_size > 0


# `python -m nfcodec decode` with a finder that records any lookup of scipy or cffi: numba's
# optional probes must fail fast (they are hidden), so none reaches the finders.
CONSOLE_DECODE = """
import runpy, sys
class Watch:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("scipy", "cffi"):
            with open(sys.argv[1] + ".lookups", "a") as handle:
                handle.write(name + "\\n")
        return None
sys.meta_path.insert(0, Watch())
sys.argv = ["nfcodec", "decode", {vector!r}, sys.argv[1], "--quiet"]
runpy.run_module("nfcodec", run_name="__main__")
"""


def test_console_decode_skips_numbas_scipy_and_cffi_probes(tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    env = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", CONSOLE_DECODE.format(vector=str(VECTOR)), str(out)],
        capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 0
    assert not (tmp_path / "out.png.lookups").exists(), (tmp_path / "out.png.lookups").read_text()


def test_probe_sees_torch_when_encoding_is_imported(tmp_path: Path) -> None:
    """The probe itself can fail: importing the encoder does show up."""
    ACTIONS["encoder"] = "import nfcodec.codec"
    try:
        result = probe("encoder", tmp_path)
    finally:
        del ACTIONS["encoder"]
    assert "torch" in loaded(result["modules"], ENCODER_ONLY)
