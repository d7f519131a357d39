"""The video half of a sweep job: read a clip once, and score decoded frames against it.

Frames come from `nfcodec.io.read_video` (RGB uint8 through PyAV), the one reader the package's
own video codec uses as well, so every codec sees identical input.
"""

from __future__ import annotations

import math
import os

import numpy as np

from nfcodec_eval.video_codecs import Clip

PEAK = 255.0


def read_clip(path: str | os.PathLike[str], max_frames: int | None = None) -> Clip:
    """The first `max_frames` frames of a clip (all without it) and its frame rate."""
    from nfcodec.io import read_video, video_frame_rate

    return Clip(read_video(path, max_frames=max_frames), video_frame_rate(path))


def video_psnr(ref: np.ndarray, test: np.ndarray) -> tuple[float, float]:
    """(mean of per-frame PSNR-RGB, PSNR-RGB of the MSE pooled over all frames), 8-bit peak.

    Per-frame MSE is `nfcodec.metrics.mse`, the image records' own, over all pixels and
    channels. The mean of per-frame PSNR is the usual video figure; the pooled one weighs every
    pixel of the clip equally, so a few bad frames pull it down more. A lossless frame makes
    the mean infinite (stored as null).
    """
    from nfcodec import metrics

    if ref.shape != test.shape or ref.ndim != 4:
        raise ValueError(f"frame stacks differ or are not (T, H, W, C): {ref.shape}, {test.shape}")
    mse = [metrics.mse(a, b) for a, b in zip(ref, test, strict=True)]
    return float(np.mean([_psnr(m) for m in mse])), _psnr(float(np.mean(mse)))


def _psnr(mse: float) -> float:
    return math.inf if mse == 0.0 else 10.0 * math.log10(PEAK * PEAK / mse)
