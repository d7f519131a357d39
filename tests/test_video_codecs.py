"""Video adapters on a tiny synthetic clip: round trips, real sizes, what is counted."""

from __future__ import annotations

import fractions
from pathlib import Path

import numpy as np
import pytest
from nfcodec_eval.codecs import CodecRun
from nfcodec_eval.pyav_video import decode, yuv_frame_to_rgb
from nfcodec_eval.video_codecs import (
    Clip,
    NfcodecIntraCodec,
    VideoCodec,
    X264VideoCodec,
    get_video_codec,
    video_codec_names,
)
from nfcodec_eval.video_jobs import read_clip, video_psnr

from tests.video_clips import moving_pattern, write_clip

BASELINES = ("x264", "x265", "svtav1")
RAW_FORMAT = {"x264": "h264", "x265": "hevc", "svtav1": "obu"}  # FFmpeg's raw-stream demuxers


@pytest.fixture(scope="module")
def clip() -> Clip:
    return Clip(moving_pattern(8), fractions.Fraction(25))


def test_reader_counts_frames_takes_the_first_n_and_keeps_the_rate(tmp_path: Path) -> None:
    source = moving_pattern(8)
    path = write_clip(tmp_path / "c.mkv", source, fractions.Fraction(30000, 1001))
    whole = read_clip(path)
    assert whole.frames.shape == (8, 32, 32, 3) and whole.frames.dtype == np.uint8
    assert whole.frame_rate == fractions.Fraction(30000, 1001)
    first = read_clip(path, 3)
    assert first.num_frames == 3
    assert np.array_equal(first.frames, whole.frames[:3])
    # the file went through yuv420p, so close to the pattern, frame for frame, not equal
    mean_psnr, _ = video_psnr(source, whole.frames)
    assert 30 < mean_psnr < 60
    assert video_psnr(source[1:4], whole.frames[:3])[0] < mean_psnr - 3  # order matters


def test_psnr_mean_of_frames_and_pooled() -> None:
    ref = np.zeros((2, 4, 4, 3), np.uint8)
    test = ref.copy()
    test[0] += 1  # frame MSEs 1 and 0: per-frame mean is infinite, pooled is 255²/0.5
    mean, pooled = video_psnr(ref, test)
    assert mean == float("inf")
    assert pooled == pytest.approx(10 * np.log10(255.0**2 / 0.5))
    test[1] += 2  # MSEs 1 and 4
    mean, pooled = video_psnr(ref, test)
    assert mean == pytest.approx((10 * np.log10(255.0**2) + 10 * np.log10(255.0**2 / 4)) / 2)
    assert pooled == pytest.approx(10 * np.log10(255.0**2 / 2.5))


def test_registry() -> None:
    assert set(BASELINES) <= set(video_codec_names())
    assert "nfcodec-intra-fast" in video_codec_names()
    with pytest.raises(ValueError, match="choose one of: .*svtav1"):
        get_video_codec("vp9")


def _decode_raw(path: Path, fmt: str) -> np.ndarray:
    """Decode a raw elementary-stream file with FFmpeg's demuxer, through the harness's RGB."""
    import av

    with av.open(str(path), format=fmt) as container:
        return np.stack([yuv_frame_to_rgb(f) for f in container.decode(video=0)])


@pytest.mark.parametrize("name", BASELINES)
def test_baseline_round_trip_with_real_sizes(name: str, clip: Clip, tmp_path: Path) -> None:
    codec = get_video_codec(name)
    assert isinstance(codec, VideoCodec) and codec.media == "video"
    rates = codec.rate_points()
    assert len(rates) >= 4
    high: CodecRun = codec.run(clip, rates[0])
    low: CodecRun = codec.run(clip, rates[-1])
    assert high.decoded.shape == clip.frames.shape and high.decoded.dtype == np.uint8
    high_psnr, high_pooled = video_psnr(clip.frames, high.decoded)
    low_psnr, _ = video_psnr(clip.frames, low.decoded)
    assert 30 < high_psnr < 60 and high_pooled <= high_psnr + 1e-9
    assert 15 < low_psnr < high_psnr
    assert 0 < low.num_bytes < high.num_bytes
    assert high.config["pix_fmt"] == "yuv420p" and high.encode_seconds > 0
    # the counted bytes alone are the complete stream: saved as a raw file, FFmpeg's demuxer
    # decodes them to the frames the harness decodes from the packets (x265 is not bit-exact
    # from one encode to the next on frames this small, so both come from one encode)
    packets, _, _ = codec.stream(clip, rates[0])  # type: ignore[attr-defined]
    path = tmp_path / "stream.raw"
    path.write_bytes(b"".join(packets))
    from_packets, _ = decode(codec.decoder, packets, clip.num_frames)  # type: ignore[attr-defined]
    assert np.array_equal(_decode_raw(path, RAW_FORMAT[name]), from_packets)
    assert video_psnr(clip.frames, from_packets)[0] > 30


def test_x264_drops_only_its_version_sei(clip: Clip) -> None:
    from nfcodec_eval.pyav_video import encode

    codec = X264VideoCodec()
    raw = encode("libx264", clip.frames, clip.frame_rate, codec.options(23), 250)
    assert b"x264 - core" in b"".join(raw.packets)
    kept, cut = codec.elementary(raw.packets)
    assert b"x264 - core" not in b"".join(kept)
    assert 200 < cut["info_sei_bytes_cut"] == raw.num_bytes - sum(map(len, kept)) < 3000
    # everything else stays: the cut stream still decodes to every frame
    frames, _ = decode("h264", kept, clip.num_frames)
    assert video_psnr(clip.frames, frames)[0] > 25


def test_odd_sizes_and_bad_frames_are_refused(clip: Clip) -> None:
    codec = get_video_codec("x264")
    with pytest.raises(ValueError, match="even"):
        codec.run(Clip(clip.frames[:, :31], clip.frame_rate), 23)
    with pytest.raises(ValueError, match="uint8 frames"):
        codec.run(Clip(clip.frames[0], clip.frame_rate), 23)


def test_nfcodec_intra_sums_per_frame_files() -> None:
    import nfcodec

    frames = moving_pattern(2, 16, 16)
    codec = NfcodecIntraCodec("test", threads=1)
    assert codec.name == "nfcodec-intra-test"
    run = codec.run(Clip(frames, fractions.Fraction(25)), 1.0)
    sizes = [
        len(nfcodec.encode_image(f, quiet=True, target_bpp=1.0, preset="test", threads=1).data)
        for f in frames
    ]
    assert run.num_bytes == sum(sizes)
    assert run.decoded.shape == frames.shape
    assert video_psnr(frames, run.decoded)[0] > 12
    assert run.config["target_bpp"] == 1.0 and run.config["preset"] == "test"
