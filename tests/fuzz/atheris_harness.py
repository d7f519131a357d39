"""Coverage-guided fuzzing of the decoder with atheris (libFuzzer for Python).

Half of the mutations are libFuzzer's own bytes-level ones, half are scripts/fuzz_nfc.py's
structure-aware ones (which keep CRCs right, so inputs reach the payload decoders). Any
exception other than an nfcodec error with a one-line message is a finding.

    pip install atheris
    mkdir -p /tmp/nfc-corpus && cp bitstream/vectors/*.nfc /tmp/nfc-corpus/
    python tests/fuzz/atheris_harness.py /tmp/nfc-corpus -atheris_runs=1000000 -seed=1 \
        -max_len=8192 -rss_limit_mb=2048 -timeout=60
"""

from __future__ import annotations

import importlib.util
import os
import random
import sys
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import atheris  # noqa: E402

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
FUZZ_MAX_PIXELS = 1 << 16

# The numba-compiled modules stay uninstrumented: numba cannot compile rewritten bytecode.
import numpy  # noqa: E402, F401
import torch  # noqa: E402

import nfcodec.entropy.arm  # noqa: E402, F401
import nfcodec.entropy.rans  # noqa: E402, F401
import nfcodec.kernels  # noqa: E402, F401

with atheris.instrument_imports(include=["nfcodec"]):
    import nfcodec.codec  # noqa: E402
    import nfcodec.container.reader  # noqa: E402, F401
    import nfcodec.sections  # noqa: E402, F401
    from nfcodec.errors import NfcError  # noqa: E402


def _load_structure_mutator():  # noqa: ANN202 - the scripts/fuzz_nfc.py module
    spec = importlib.util.spec_from_file_location("fuzz_nfc", SCRIPTS / "fuzz_nfc.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fuzz_nfc"] = module
    spec.loader.exec_module(module)
    return module


FUZZ = _load_structure_mutator()
SEEDS = FUZZ.load_seeds()


def test_one_input(data: bytes) -> None:
    try:
        nfcodec.codec.decode(data, max_pixels=FUZZ_MAX_PIXELS)
    except NfcError as exc:
        if "\n" in str(exc):
            raise AssertionError(f"multi-line error message: {exc!r}") from exc


def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    if rng.random() < 0.5:
        return atheris.Mutate(data, max_size)
    try:
        return FUZZ.mutate(data, rng, SEEDS)[:max_size]
    except Exception:  # noqa: BLE001 - a mutator bug must not end the run; libFuzzer's take over
        return atheris.Mutate(data, max_size)


def main() -> None:
    torch.set_num_threads(1)
    for seed in SEEDS:  # compile every numba signature first: a one-off, not a hang
        test_one_input(seed)
    atheris.Setup(sys.argv, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
