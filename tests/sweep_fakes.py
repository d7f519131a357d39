"""Tiny deterministic codecs for the sweep tests.

They live in an importable module (not in a test file) because the process-pool,
subprocess and Ray workers resolve codecs by the spec ``"tests.sweep_fakes:Name"``.
If ``NFCODEC_FAKE_MARKER`` names a file, every `run` appends one line
``<codec> <image digest> <rate>`` to it, so tests can count what actually ran.
"""

from __future__ import annotations

import hashlib
import os
import time
import zlib
from pathlib import Path

import numpy as np
from nfcodec_eval.codecs import CodecRun

MARKER_ENV = "NFCODEC_FAKE_MARKER"


def image_digest(image: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()[:16]


def _mark(codec: str, image: np.ndarray, rate: float) -> None:
    marker = os.environ.get(MARKER_ENV)
    if marker:
        with Path(marker).open("a") as fh:
            fh.write(f"{codec} {image_digest(image)} {rate:g}\n")


class FakeCodec:
    """Keeps the top ``rate`` bits of each sample; size is the zlib size of what is kept."""

    name = "fake"
    uses_gpu = False
    delay_s = 0.0

    def rate_points(self) -> list[float]:
        return [2.0, 5.0]

    def run(self, image: np.ndarray, rate: float) -> CodecRun:
        _mark(self.name, image, rate)
        if self.delay_s:
            time.sleep(self.delay_s)
        drop = 8 - int(rate)
        start = time.perf_counter()
        kept = (image >> drop).astype(np.uint8)
        payload = zlib.compress(kept.tobytes(), 6)
        middle = time.perf_counter()
        decoded = ((kept.astype(np.uint16) << drop) + ((1 << drop) >> 1)).astype(np.uint8)
        end = time.perf_counter()
        return CodecRun(
            num_bytes=len(payload),
            decoded=decoded,
            encode_seconds=middle - start,
            decode_seconds=end - middle,
            config={"bits": int(rate)},
        )

    def versions(self) -> dict[str, str]:
        return {"fakelib": "1.0"}


class SlowFakeCodec(FakeCodec):
    """The fake codec, slowed down so a test can kill a sweep part-way."""

    name = "slowfake"
    delay_s = 0.3

    def rate_points(self) -> list[float]:
        return [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


class FailingCodec(FakeCodec):
    """Fails on every run, to check that failures are recorded, not raised."""

    name = "failing"

    def run(self, image: np.ndarray, rate: float) -> CodecRun:
        _mark(self.name, image, rate)
        raise RuntimeError("simulated encoder crash\nwith a second line")


class CrashingCodec(FakeCodec):
    """Kills its worker process outright, like a segfault or an OOM kill would."""

    name = "crashing"

    def run(self, image: np.ndarray, rate: float) -> CodecRun:
        _mark(self.name, image, rate)
        os._exit(3)
