"""Encode and decode RGB frame stacks with FFmpeg's video encoders through PyAV.

One job: RGB uint8 frames -> YUV 4:2:0 -> encoder packets (the elementary stream) -> decoder ->
RGB uint8 frames, with the colour conversion identical for every codec: BT.601 matrix, limited
(TV) range, swscale's bilinear chroma resampling. That is what `nfcodec.io.read_video` uses to
turn the clips into RGB in the first place (their streams leave the matrix unspecified, so
swscale falls back to BT.601), so a codec's PSNR is not charged for a mismatched matrix.
"""

from __future__ import annotations

import fractions
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

PIX_FMT = "yuv420p"
MATRIX = "BT.601, limited range, swscale bilinear chroma resampling"

# x264 writes its version and full option string into an SEI message of the first access unit
# (user data unregistered, this UUID); it carries no picture data, like the one x265 drops
# with info=0, so it is cut from the counted stream.
X264_INFO_UUID = bytes.fromhex("dc45e9bde6d948b7962cd820d923eeef")


@dataclass(frozen=True)
class Encoded:
    """Packets of one encode, as bytes in decode order, and the encoder's wall time."""

    packets: tuple[bytes, ...]
    seconds: float

    @property
    def num_bytes(self) -> int:
        return sum(len(p) for p in self.packets)


def _swscale() -> tuple[Any, Any]:
    from av.video.reformatter import Colorspace, Interpolation

    return Colorspace.ITU601, Interpolation.BILINEAR


def rgb_to_yuv_frames(frames: np.ndarray) -> list[Any]:
    """(T, H, W, 3) uint8 RGB -> PyAV yuv420p frames (see the module docstring)."""
    import av

    matrix, interp = _swscale()
    out = []
    for rgb in frames:
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        out.append(frame.reformat(format=PIX_FMT, dst_colorspace=matrix, interpolation=interp))
    return out


def yuv_frame_to_rgb(frame: Any) -> np.ndarray:
    """A decoded frame -> (H, W, 3) uint8 RGB through the same conversion."""
    matrix, interp = _swscale()
    rgb = frame.reformat(format="rgb24", src_colorspace=matrix, interpolation=interp)
    return rgb.to_ndarray()


def encode(
    encoder: str,
    frames: np.ndarray,
    frame_rate: fractions.Fraction,
    options: Mapping[str, str],
    gop: int,
) -> Encoded:
    """Encode RGB frames with `encoder` (an FFmpeg encoder name), one thread, flushed.

    The time covers the RGB -> YUV conversion and the encoder, as a user starting from RGB
    would wait for both.
    """
    import av

    ctx = av.codec.CodecContext.create(encoder, "w")
    ctx.width, ctx.height = int(frames.shape[2]), int(frames.shape[1])
    ctx.pix_fmt = PIX_FMT
    ctx.time_base = 1 / frame_rate
    ctx.framerate = frame_rate
    ctx.gop_size = gop
    ctx.thread_count = 1  # same work on every machine; timings are single-core
    ctx.options = dict(options)
    packets: list[bytes] = []
    start = time.perf_counter()
    for index, frame in enumerate(rgb_to_yuv_frames(frames)):
        frame.pts = index
        frame.time_base = ctx.time_base
        packets.extend(bytes(p) for p in ctx.encode(frame))
    packets.extend(bytes(p) for p in ctx.encode(None))
    seconds = time.perf_counter() - start
    return Encoded(tuple(p for p in packets if p), seconds)


def decode(
    decoder: str, packets: Sequence[bytes], expected: int, repeats: int = 1
) -> tuple[np.ndarray, float]:
    """Decode packets to (T, H, W, 3) RGB; the time covers decoding and the RGB conversion.

    With `repeats` > 1 the stream is decoded that many times and the fastest time kept: on a
    shared machine one run's time is mostly other processes' noise. Every run must give the
    same pixels."""
    start = time.perf_counter()
    frames = _decode_once(decoder, packets)
    best = time.perf_counter() - start
    for _ in range(repeats - 1):
        start = time.perf_counter()
        again = _decode_once(decoder, packets)
        best = min(best, time.perf_counter() - start)
        if not np.array_equal(again, frames):
            raise RuntimeError(f"{decoder} decoded the same stream to different pixels")
    if len(frames) != expected:
        raise RuntimeError(f"{decoder} decoded {len(frames)} frames, expected {expected}")
    return frames, best


def _decode_once(decoder: str, packets: Sequence[bytes]) -> np.ndarray:
    import av

    ctx = av.codec.CodecContext.create(decoder, "r")
    ctx.thread_count = 1
    rgb: list[np.ndarray] = []
    for data in packets:
        rgb.extend(yuv_frame_to_rgb(f) for f in ctx.decode(av.Packet(data)))
    rgb.extend(yuv_frame_to_rgb(f) for f in ctx.decode(None))
    if not rgb:
        raise RuntimeError(f"{decoder} decoded no frames")
    return np.stack(rgb)


# --------------------------------------------------------------------- Annex B helpers


def _nal_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of every NAL unit in an Annex B stream, start codes included."""
    starts = []
    i = data.find(b"\x00\x00\x01")
    while i >= 0:
        begin = i - 1 if i > 0 and data[i - 1] == 0 else i  # 4-byte start code
        starts.append((begin, i + 3))
        i = data.find(b"\x00\x00\x01", i + 3)
    spans = [(0, starts[0][0])] if starts and starts[0][0] > 0 else []
    if not starts:
        return [(0, len(data))]
    for index, (begin, _) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else len(data)
        spans.append((begin, end))
    return spans


def _is_x264_info(nal: bytes) -> bool:
    """An H.264 SEI NAL (type 6) whose first message is x264's user-data-unregistered one."""
    body = nal.lstrip(b"\x00")[1:]  # after the start code's 01
    if len(body) < 19 or body[0] & 0x1F != 6:
        return False
    payload_type, size_at = body[1], 2
    while size_at < len(body) and body[size_at] == 0xFF:  # payload size, 255-extended
        size_at += 1
    return payload_type == 5 and body[size_at + 1 : size_at + 17] == X264_INFO_UUID


def strip_x264_info(packet: bytes) -> bytes:
    """The packet without x264's informational SEI NAL (see `X264_INFO_UUID`)."""
    kept = [packet[a:b] for a, b in _nal_spans(packet) if not _is_x264_info(packet[a:b])]
    return b"".join(kept) if kept else packet
