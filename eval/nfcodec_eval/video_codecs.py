"""Video codec adapters: the video twin of `nfcodec_eval.codecs`.

A video adapter takes a `Clip` (RGB uint8 frames and their frame rate) and returns the same
`CodecRun` as an image adapter, with `decoded` of shape (T, H, W, 3) and `num_bytes` the size
of the whole coded clip. The sweep pairs video adapters with the clips of a dataset and image
adapters with its pictures (`media`), so one codec name such as ``x265`` can mean intra HEVC
on images and HEVC video on clips.

The PyAV baselines share one colour path (`nfcodec_eval.pyav_video`): 4:2:0 (yuv420p), BT.601
limited range, bilinear chroma resampling, one encoder and decoder thread, keyframe interval
250 (x264's default; longer than either clip, so one keyframe unless a scene cut adds one).
Bytes are those of the elementary stream, never of a container.
"""

from __future__ import annotations

import fractions
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from nfcodec_eval.codecs import CodecRun, CodecUnavailable, ConfigValue, NfcodecCodec
from nfcodec_eval.pyav_video import MATRIX, PIX_FMT, decode, encode, strip_x264_info

__all__ = [
    "Clip",
    "VideoCodec",
    "get_video_codec",
    "video_codec_names",
    "check_clip",
]

GOP = 250
DECODE_REPEATS = 3  # decode time is the fastest of three decodes (noise on a shared machine)
# x264/x265 CRF grid: 0.45-0.02 bpp on the QCIF clip, 0.2-0.012 on the 640x272 one (measured)
X26X_CRF_POINTS = (13.0, 18.0, 23.0, 28.0, 33.0, 38.0)


@dataclass(frozen=True)
class Clip:
    """What a video adapter codes: RGB uint8 frames (T, H, W, 3) and their frame rate."""

    frames: np.ndarray
    frame_rate: fractions.Fraction

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])


@runtime_checkable
class VideoCodec(Protocol):
    """What the sweep engine needs from a video codec."""

    name: str
    media: Literal["video"]
    uses_gpu: bool

    def rate_points(self) -> list[float]: ...

    def run(self, clip: Clip, rate: float) -> CodecRun: ...

    def versions(self) -> dict[str, str]: ...


def check_clip(clip: Clip) -> None:
    """Reject frame stacks the adapters cannot code, quoting what was given."""
    frames = clip.frames
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3:
        raise ValueError(f"expected uint8 frames (T, H, W, 3), got {frames.dtype} {frames.shape}")
    if frames.shape[0] < 1:
        raise ValueError("a clip needs at least one frame")
    if frames.shape[1] % 2 or frames.shape[2] % 2:
        size = f"{frames.shape[2]}x{frames.shape[1]}"
        raise ValueError(f"4:2:0 needs even width and height, got {size}")
    if clip.frame_rate <= 0:
        raise ValueError(f"frame rate must be positive, got {clip.frame_rate}")


def _pyav_versions() -> dict[str, str]:
    import av

    versions = {"pyav": av.__version__}
    versions["libavcodec"] = ".".join(map(str, av.library_versions["libavcodec"]))
    return versions


class PyavVideoCodec:
    """One FFmpeg encoder through PyAV, swept by its constant-quality parameter (CRF)."""

    media: Literal["video"] = "video"
    uses_gpu = False
    name = ""
    encoder = ""
    decoder = ""
    preset = ""
    crf_points: tuple[float, ...] = ()
    bytes_note = ""

    def __init__(self) -> None:
        import av

        for lib in (self.encoder, self.decoder):
            if lib not in av.codecs_available:
                raise CodecUnavailable(
                    f"codec {self.name!r} needs {lib} in PyAV's FFmpeg build, which this "
                    "installation lacks"
                )

    def rate_points(self) -> list[float]:
        return list(self.crf_points)

    def options(self, crf: int) -> dict[str, str]:
        """Encoder options at one CRF."""
        raise NotImplementedError

    def elementary(self, packets: tuple[bytes, ...]) -> tuple[tuple[bytes, ...], dict[str, int]]:
        """The packets that are counted and decoded, and what was cut from them."""
        return packets, {}

    def stream(self, clip: Clip, rate: float) -> tuple[tuple[bytes, ...], dict[str, int], float]:
        """The counted packets at one rate point, what was cut from them, encode seconds."""
        check_clip(clip)
        encoded = encode(
            self.encoder, clip.frames, clip.frame_rate, self.options(int(round(rate))), GOP
        )
        packets, cut = self.elementary(encoded.packets)
        return packets, cut, encoded.seconds

    def run(self, clip: Clip, rate: float) -> CodecRun:
        crf = int(round(rate))
        packets, cut, encode_seconds = self.stream(clip, rate)
        decoded, decode_seconds = decode(self.decoder, packets, clip.num_frames, DECODE_REPEATS)
        config: dict[str, ConfigValue] = {
            "crf": crf,
            "preset": self.preset,
            "pix_fmt": PIX_FMT,
            "matrix": MATRIX,
            "gop": GOP,
            "threads": 1,
            "decode_time": f"fastest of {DECODE_REPEATS} decodes",
            "bytes": self.bytes_note,
            **cut,
        }
        return CodecRun(
            sum(len(p) for p in packets), decoded, encode_seconds, decode_seconds, config
        )

    def versions(self) -> dict[str, str]:
        return _pyav_versions()


class X264VideoCodec(PyavVideoCodec):
    """H.264 through libx264, preset medium (default tune), decoded by FFmpeg's h264."""

    name = "x264"
    encoder = "libx264"
    decoder = "h264"
    preset = "medium"
    crf_points = X26X_CRF_POINTS
    bytes_note = "raw H.264 Annex B stream (SPS/PPS, start codes), no container, info SEI cut"

    def options(self, crf: int) -> dict[str, str]:
        return {"preset": self.preset, "crf": str(crf)}

    def elementary(self, packets: tuple[bytes, ...]) -> tuple[tuple[bytes, ...], dict[str, int]]:
        kept = tuple(strip_x264_info(p) for p in packets)
        cut = sum(map(len, packets)) - sum(map(len, kept))
        return kept, {"info_sei_bytes_cut": cut}


class X265VideoCodec(PyavVideoCodec):
    """HEVC through libx265, preset medium (default tune), decoded by FFmpeg's hevc."""

    name = "x265"
    encoder = "libx265"
    decoder = "hevc"
    preset = "medium"
    crf_points = X26X_CRF_POINTS
    bytes_note = "raw HEVC Annex B stream (VPS/SPS/PPS, start codes), no container, info=0"

    def options(self, crf: int) -> dict[str, str]:
        return {
            "preset": self.preset,
            "crf": str(crf),
            # info=0: no version SEI (no picture data); no thread pool, one frame thread
            "x265-params": "log-level=error:info=0:pools=none:frame-threads=1",
        }


class SvtAv1VideoCodec(PyavVideoCodec):
    """AV1 through SVT-AV1, swept by CRF, decoded by dav1d.

    Preset 8 (of 0 slowest .. 13 fastest) because it took about as long as x265 medium on these
    clips with one thread (see eval/results/video/NOTES.md); SVT-AV1's own defaults otherwise
    (tune PSNR, random-access hierarchy).
    """

    name = "svtav1"
    encoder = "libsvtav1"
    decoder = "libdav1d"
    preset = "8"
    # SVT's CRF scale runs to 63; 10-60 spans 0.57-0.035 bpp (QCIF) and 0.19-0.013 (640x272)
    crf_points = (10.0, 20.0, 30.0, 40.0, 50.0, 60.0)
    bytes_note = "raw AV1 low-overhead OBU stream (incl. temporal delimiters), no container"

    def __init__(self) -> None:
        super().__init__()
        # SVT-AV1 prints its whole configuration to stderr per encode unless told errors only;
        # an explicit SVT_LOG from the user still wins
        os.environ.setdefault("SVT_LOG", "1")

    def options(self, crf: int) -> dict[str, str]:
        return {"preset": self.preset, "crf": str(crf), "svtav1-params": "lp=1"}


class NfcodecIntraCodec:
    """nfcodec's image codec on every frame alone: the intra-only reference for video.

    The rate point is the target bpp of each frame; `num_bytes` is the sum of the per-frame
    `.nfc` files, encode and decode seconds the sums over frames. The preset is selectable
    because a real clip at preset medium takes hours on a CPU.
    """

    media: Literal["video"] = "video"

    def __init__(
        self, preset: str = "medium", *, name: str | None = None, threads: int | None = None
    ) -> None:
        self.preset = preset
        self.name = name or ("nfcodec-intra" if preset == "medium" else f"nfcodec-intra-{preset}")
        self.image_codec = NfcodecCodec(preset, threads=threads)
        self.uses_gpu = self.image_codec.uses_gpu

    def rate_points(self) -> list[float]:
        # per-frame targets; on a QCIF frame (preset fast) 0.1 landed at 0.19 bpp and 0.5-3
        # spans ~26-37 dB, the PSNR range of the baselines' curves
        return [0.5, 1.0, 2.0, 3.0]

    def run(self, clip: Clip, rate: float) -> CodecRun:
        check_clip(clip)
        runs = [self.image_codec.run(frame, rate) for frame in clip.frames]
        config: dict[str, ConfigValue] = {
            "target_bpp": float(rate),
            "preset": self.preset,
            "bytes": "sum of the per-frame .nfc files",
        }
        return CodecRun(
            sum(r.num_bytes for r in runs),
            np.stack([r.decoded for r in runs]),
            sum(r.encode_seconds for r in runs),
            sum(r.decode_seconds for r in runs),
            config,
        )

    def versions(self) -> dict[str, str]:
        return self.image_codec.versions()


_REGISTRY: dict[str, Callable[[], VideoCodec]] = {
    "x264": X264VideoCodec,
    "x265": X265VideoCodec,
    "svtav1": SvtAv1VideoCodec,
    "nfcodec-intra": NfcodecIntraCodec,
    "nfcodec-intra-fast": functools.partial(NfcodecIntraCodec, "fast"),
    "nfcodec-intra-slow": functools.partial(NfcodecIntraCodec, "slow"),
}


def video_codec_names() -> list[str]:
    """Every name `get_video_codec` accepts, sorted."""
    return sorted(_REGISTRY)


def get_video_codec(name: str) -> VideoCodec:
    """Build the video adapter for `name`; unknown names list the choices."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown video codec {name!r}; choose one of: {', '.join(video_codec_names())}"
        ) from None
    return factory()
