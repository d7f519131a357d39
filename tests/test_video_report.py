"""Report on hand-made clip records whose BD-rates are known in advance."""

from __future__ import annotations

import json
import math
from pathlib import Path

from nfcodec_eval.report import build_curves, make_report
from nfcodec_eval.schema import Record, make_job_id
from nfcodec_eval.store import RecordWriter, load_records

BPP = [0.02, 0.05, 0.1, 0.2, 0.4]
# x264 on the log-linear curve; others need `scale` times its bits at equal PSNR
SCALES = {"x264": 1.0, "svtav1": 0.5, "nfcodec-intra-fast": 2.0}


def _psnr(bpp: float) -> float:
    """Log-linear, so scaling every rate by k is a BD-rate of exactly (k - 1)."""
    return 40.0 + 4.0 * math.log(bpp)


def _record(clip: str, codec: str, rate: float, bpp: float, frames: int, ok: bool = True) -> Record:
    return Record(
        job_id=make_job_id("video", clip, codec, {"frames": frames}, rate),
        dataset="video",
        image=clip,
        codec=codec,
        config={"frames": frames},
        rate=rate,
        status="ok" if ok else "failed",
        error="" if ok else "boom",
        width=32,
        height=16,
        num_bytes=int(bpp * 32 * 16 * frames / 8) if ok else 0,
        bpp=bpp if ok else 0.0,
        psnr=_psnr(bpp / SCALES[codec]) if ok else None,
        psnr_pooled=_psnr(bpp / SCALES[codec]) - 0.3 if ok else None,
        encode_s=2.0,
        decode_s=0.25,
        frames=frames if ok else None,
    )


def _write(folder: Path) -> None:
    """Two clips (8 and 4 frames), three codecs; one svtav1 point fails on the second clip."""
    with RecordWriter(folder) as writer:
        for clip, frames in (("a.mp4", 8), ("sub/b.mkv", 4)):
            for codec, scale in SCALES.items():
                for rate, bpp in enumerate(BPP):
                    failed = clip == "sub/b.mkv" and codec == "svtav1" and rate == 4
                    writer.append(_record(clip, codec, rate, bpp * scale, frames, not failed))
        writer.append(
            Record(
                job_id="img", dataset="kodak", image="k.png", codec="jpeg", config={},
                rate=50, status="ok", width=8, height=8, num_bytes=8, bpp=1.0, psnr=30.0,
            )
        )


def test_clips_are_separate_curves(tmp_path: Path) -> None:
    _write(tmp_path)
    curves = build_curves(load_records(tmp_path))
    assert set(curves) == {"kodak", "video/a-8f", "video/sub/b-4f"}
    svt = curves["video/sub/b-4f"]["svtav1"]
    assert svt.frames == 4 and svt.dropped_rates == (4.0,) and len(svt.bpp) == 4
    assert svt.psnr_pooled == tuple(p - 0.3 for p in svt.psnr)
    assert svt.mean_decode_fps == 4 / 0.25


def test_report_on_clips(tmp_path: Path) -> None:
    _write(tmp_path)
    text = make_report(tmp_path, tmp_path / "no-refs").read_text()
    assert "## video/a-8f: 32×16, 8 frames" in text and "## video/sub/b-4f: 32×16, 4 frames" in text
    section = text.split("## video/a-8f")[1].split("\n## ")[0]
    head = "| codec | points | frames | BD-rate vs x264 (medium) | BD-rate vs nfcodec-intra-fast |"
    assert head in section
    # against x264: svtav1 -50%, intra +100%; against intra: x264 -50%, svtav1 -75%
    assert "| svtav1 | 5 | 8 | -50.00%" in section and "-75.00%" in section
    assert "| nfcodec-intra-fast | 5 | 8 | +100.00%" in section and "| anchor |" in section
    assert "| x264 | 5 | 8 | anchor | -50.00%" in section
    assert "| 2.000 | 32.0 |" in section  # mean encode s, decode frames/s
    assert "| x264 | 0 | 0.0200 | 24.35 | 24.05 | 2.00 | 32 |" in section  # a rate point row
    other = text.split("## video/sub/b-4f")[1].split("\n## ")[0]
    assert "| svtav1 | 4 (1 dropped) | 4 |" in other and "svtav1 rate 4: boom" in other
    assert "## kodak" in text  # images in the same folder keep their own section
    saved = json.loads((tmp_path / "video" / "a-8f" / "svtav1.json").read_text())
    assert saved["results"]["bpp"] == [b * 0.5 for b in BPP]
    assert len(saved["results"]["psnr-rgb-pooled"]) == 5 and "8 frames" in saved["description"]
    for plot in ("rd-video-a-8f.png", "rd-video-sub-b-4f.png", "rd-kodak.png"):
        assert (tmp_path / plot).stat().st_size > 1000


def test_no_intra_column_without_intra(tmp_path: Path) -> None:
    with RecordWriter(tmp_path) as writer:
        for rate, bpp in enumerate(BPP):
            writer.append(_record("a.mp4", "svtav1", rate, bpp, 8))
    text = make_report(tmp_path, tmp_path / "no-refs").read_text()
    assert "BD-rate vs nfcodec-intra" not in text
    assert "| svtav1 | 5 | 8 | n/a (no x264 sweep) |" in text
    assert (tmp_path / "rd.png").is_file() and (tmp_path / "svtav1.json").is_file()
