"""Video clips in the sweep: planning by media, --frames, records, resume, bad clips."""

from __future__ import annotations

import fractions
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from nfcodec_eval.cli import sweep_command
from nfcodec_eval.jobs import SweepError, plan_jobs
from nfcodec_eval.store import load_records
from nfcodec_eval.sweep import run_sweep
from PIL import Image

from tests.video_clips import moving_pattern, write_clip


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    """A dataset folder 'clips' with one 32x32, 8-frame clip."""
    folder = tmp_path / "clips"
    folder.mkdir()
    write_clip(folder / "a.mkv", moving_pattern(8), fractions.Fraction(24))
    return folder


@pytest.fixture
def mixed(clips: Path) -> Path:
    """The clip folder plus one still image."""
    Image.fromarray(moving_pattern(1)[0]).save(clips / "still.png")
    return clips


def test_codecs_get_the_items_of_their_media(mixed: Path) -> None:
    jobs = plan_jobs(mixed, ["x264", "jpeg", "x265"], rates=[30.0], frames=5)
    pairs = {(j.codec, j.image, j.media) for j in jobs}
    assert pairs == {
        ("x264", "a.mkv", "video"),
        ("jpeg", "still.png", "image"),
        ("x265", "a.mkv", "video"),  # one name, two adapters: HEVC video on the clip ...
        ("x265", "still.png", "image"),  # ... and intra HEVC on the picture
    }
    video = [j for j in jobs if j.media == "video"]
    assert all(j.frames == 5 and j.config["frames"] == 5 for j in video)
    assert all(j.frames is None and "frames" not in j.config for j in jobs if j.media == "image")


def test_planning_errors_name_the_mismatch(clips: Path, tmp_path: Path) -> None:
    with pytest.raises(SweepError, match="codes image, but the dataset holds video only"):
        plan_jobs(clips, ["jpeg"])
    with pytest.raises(SweepError, match="unknown codec 'vp9'.*svtav1"):
        plan_jobs(clips, ["vp9"])
    images = tmp_path / "pics"
    images.mkdir()
    Image.fromarray(moving_pattern(1)[0]).save(images / "p.png")
    with pytest.raises(SweepError, match="--frames applies to video"):
        plan_jobs(images, ["jpeg"], frames=3)
    with pytest.raises(SweepError, match="codes video"):
        plan_jobs(images, ["svtav1"])
    with pytest.raises(SweepError, match="positive"):
        plan_jobs(clips, ["x264"], frames=0)


def test_video_records_resume_and_frames_are_part_of_the_job(clips: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = run_sweep(clips, out, ["x264"], executor="serial", rates=[23, 33], frames=4, quiet=True)
    assert (first.ok, first.failed, first.skipped) == (2, 0, 0)
    records = load_records(out)
    for record in records:
        assert record.ok and record.frames == 4 and record.config["frames"] == 4
        assert record.bpp == pytest.approx(record.num_bytes * 8 / (32 * 32 * 4))
        assert 20 < record.psnr < 60 and record.psnr_pooled is not None  # type: ignore[operator]
        assert record.ms_ssim is None and record.decode_s > 0 and record.width == 32
    low, high = sorted(records, key=lambda r: r.rate)
    assert high.num_bytes < low.num_bytes and high.psnr < low.psnr  # type: ignore[operator]
    again = run_sweep(clips, out, ["x264"], executor="serial", rates=[23, 33], frames=4, quiet=True)
    assert (again.ok, again.skipped) == (0, 2)
    more = run_sweep(clips, out, ["x264"], executor="serial", rates=[23, 33], frames=6, quiet=True)
    assert more.ok == 2
    assert sorted(r.frames for r in load_records(out)) == [4, 4, 6, 6]


def test_a_broken_clip_is_a_failed_record(clips: Path, tmp_path: Path) -> None:
    (clips / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 40)
    summary = run_sweep(clips, tmp_path / "out", ["x264"], executor="serial", rates=[30])
    assert (summary.ok, summary.failed) == (1, 1)
    (failed,) = [r for r in load_records(tmp_path / "out") if not r.ok]
    assert failed.image == "broken.mp4" and "broken.mp4" in failed.error


def test_cli_frames_option(clips: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["--dataset", str(clips), "--codec", "svtav1", "--out", str(out), "--rate", "40"]
    done = CliRunner().invoke(sweep_command, [*args, "--frames", "3", "--executor", "serial"])
    assert done.exit_code == 0, done.output
    (record,) = load_records(out)
    assert record.frames == 3 and record.config["frames"] == 3
    assert np.isfinite(record.psnr)  # type: ignore[arg-type]
    bad = CliRunner().invoke(sweep_command, [*args, "--frames", "0"])
    assert bad.exit_code == 2 and "--frames" in bad.output
