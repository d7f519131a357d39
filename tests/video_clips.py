"""Tiny synthetic clips written with PyAV, for the video harness tests."""

from __future__ import annotations

import fractions
from pathlib import Path

import numpy as np


def moving_pattern(frames: int = 8, height: int = 32, width: int = 32) -> np.ndarray:
    """(T, H, W, 3) uint8: smooth colour waves drifting by a pixel or two per frame."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    out = []
    for t in range(frames):
        red = 128 + 100 * np.sin((x + 2 * t) / 5.0) * np.cos(y / 7.0)
        green = 128 + 90 * np.cos((x - y + t) / 6.0)
        blue = (4 * x + 3 * y + 10 * t) % 256
        out.append(np.stack([red, green, blue], axis=-1))
    return np.clip(np.stack(out), 0, 255).astype(np.uint8)


def write_clip(
    path: Path, frames: np.ndarray, rate: fractions.Fraction = fractions.Fraction(25)
) -> Path:
    """A near-lossless FFV1 (yuv420p) clip in Matroska at `rate` frames per second."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=rate)
        stream.width, stream.height = int(frames.shape[2]), int(frames.shape[1])
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode(None))
    return path
