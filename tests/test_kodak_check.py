"""scripts/kodak_check.py on two tiny crops with a 10-step preset: report, harness records,
resume, failures."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import nfcodec
from nfcodec.fit.presets import PRESETS, Preset
from nfcodec.io import read_image, sample_image_path
from tests.script_loader import load_script

REPO = Path(__file__).resolve().parents[1]
KODAK = REPO.parent / "shared" / "datasets" / "kodak"


kc = load_script("kodak_check")


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """kodim01.png and kodim23.png: 32x24 crops of the real pictures (or of the sample)."""
    folder = tmp_path / "kodak"
    folder.mkdir()
    for name in ("kodim01", "kodim23"):
        source = KODAK / f"{name}.png"
        pixels = read_image(source if source.is_file() else sample_image_path())
        top, left = min(100, pixels.shape[0] - 24), min(200, pixels.shape[1] - 32)
        crop = np.ascontiguousarray(pixels[top : top + 24, left : left + 32])
        Image.fromarray(crop[:, :, 0] if crop.shape[2] == 1 else crop).save(folder / f"{name}.png")
    return folder


@pytest.fixture
def tiny_preset(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A 10-step preset."""
    monkeypatch.setitem(PRESETS, "test", Preset("test", steps=10))
    yield


def _argv(dataset: Path, tmp_path: Path, *extra: str) -> list[str]:
    return [
        "--dataset", str(dataset), "--preset", "test", "--device", "cpu", "--threads", "1",
        "--out", str(tmp_path / "out" / "check.md"), "--records", str(tmp_path / "runs"),
        "--quiet", *extra,
    ]


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _counting_encoder(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the field of every encode the check runs (through the harness codec)."""
    real = nfcodec.encode_image
    calls: list[str] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(f"{kwargs['field']}{'+rpp' if kwargs['permute'] else ''}")
        return real(*args, **kwargs)

    monkeypatch.setattr(nfcodec, "encode_image", counting)
    return calls


def test_matched_psnr_interpolates_between_bpp_neighbours() -> None:
    P = kc.SweepPoint
    # Shuffled, and quality order is not bpp order (q4 is smaller than q2): bpp order decides.
    sweep = [P(3, 1.0, 32.0), P(1, 0.2, 20.0), P(2, 0.6, 28.0), P(4, 0.4, 25.0)]
    match = kc.matched_psnr(sweep, 0.5)
    assert match.psnr == pytest.approx(26.5)
    assert (match.lo.quality, match.hi.quality) == (4, 2)
    assert kc.matched_psnr(sweep, 0.3).psnr == pytest.approx(22.5)
    assert kc.matched_psnr(sweep, 0.8).psnr == pytest.approx(30.0)
    assert kc.matched_psnr(sweep, 0.6).psnr == pytest.approx(28.0)
    assert kc.matched_psnr(sweep, 1.0).psnr == pytest.approx(32.0)
    assert kc.matched_psnr(sweep, 0.2).psnr == pytest.approx(20.0)
    assert kc.matched_psnr(sweep, 0.1) is None
    assert kc.matched_psnr(sweep, 1.01) is None
    assert kc.matched_psnr([], 0.5) is None


def test_pillow_sweep_counts_real_bytes() -> None:
    image = read_image(sample_image_path())[:24, :32]
    points = kc.pillow_sweep(np.ascontiguousarray(image), "jpeg", [10, 90])
    assert [p.quality for p in points] == [10, 90]
    assert points[0].bpp < points[1].bpp and points[0].psnr < points[1].psnr
    sizes = [p.bpp * 32 * 24 / 8 for p in points]
    assert all(abs(size - round(size)) < 1e-9 for size in sizes)


def test_image_name() -> None:
    assert kc.image_name("1") == kc.image_name("01") == kc.image_name("kodim01.png") == "kodim01"


def test_main_writes_report_and_records_then_resumes(
    dataset: Path, tmp_path: Path, tiny_preset: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _counting_encoder(monkeypatch)
    argv = _argv(dataset, tmp_path, "--images", "01", "23", "--configs", "diner")
    assert kc.main(argv) == 0
    assert calls == ["diner"] * 4
    report = (tmp_path / "out" / "check.md").read_text()
    records_path = tmp_path / "runs" / "records.jsonl"  # the harness store
    records = _lines(records_path)
    assert len(records) == 4
    assert {(r["image"], r["rate"]) for r in records} == {
        (f"{i}.png", t) for i in ("kodim01", "kodim23") for t in (0.5, 1.0)
    }
    for record in records:
        assert record["status"] == "ok" and record["dataset"] == "kodak"
        assert record["bpp"] == pytest.approx(record["num_bytes"] * 8 / (32 * 24))
        assert math.isfinite(record["psnr"]) and record["decode_s"] > 0
        assert record["codec"] == "diner"
        assert record["config"]["field"] == "diner" and record["config"]["preset"] == "test"
        assert record["host"]["cpu_count"] >= 1 and record["versions"]["numpy"]
    assert "## diner" in report and "| kodim01 | 0.5 |" in report and "| kodim23 | 1 |" in report
    assert "JPEG PSNR @bpp" in report and "linearly interpolated" in report
    assert "mean of per-image PSNR" in report and "Wins vs JPEG" in report
    assert "threads: 1" in report and "scripts/kodak_check.py" in report
    matched = [line for line in report.splitlines() if line.startswith("| kodim")]
    assert len(matched) == 4 and all(line.count("|") == 11 for line in matched)

    # Resume: nothing is encoded again, the report is rebuilt from the records.
    assert kc.main(argv) == 0
    assert calls == ["diner"] * 4
    assert len(_lines(records_path)) == 4
    assert "4 run(s) were taken from the records" in (tmp_path / "out" / "check.md").read_text()

    # A wider selection encodes only what is new; --fresh encodes again.
    wider = _argv(dataset, tmp_path, "--images", "01", "--targets", "0.5",
                  "--configs", "diner", "hashgrid+rpp")
    assert kc.main(wider) == 0
    assert calls[4:] == ["hashgrid+rpp"]
    added = _lines(records_path)[-1]
    assert (added["codec"], added["config"]["permute"], added["config"]["seed"]) == (
        "hashgrid+rpp", True, 1
    )
    assert math.isfinite(added["psnr"])
    assert kc.main([*_argv(dataset, tmp_path, "--images", "01", "--targets", "0.5",
                           "--configs", "diner"), "--fresh"]) == 0
    assert calls[4:] == ["hashgrid+rpp", "diner"]
    assert len(_lines(records_path)) == 6

    # Another preset is another job: not taken from the records of this one.
    monkeypatch.setitem(PRESETS, "test2", Preset("test2", steps=10))
    other = _argv(dataset, tmp_path, "--images", "01", "--targets", "0.5", "--configs", "diner")
    assert kc.main([*other, "--preset", "test2"]) == 0
    assert calls[6:] == ["diner"]


def test_failed_run_is_reported_then_retried(
    dataset: Path, tmp_path: Path, tiny_preset: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = nfcodec.encode_image

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(nfcodec, "encode_image", boom)
    argv = _argv(dataset, tmp_path, "--images", "01", "--targets", "0.5", "--configs", "diner")
    assert kc.main(argv) == 1
    assert [r["status"] for r in _lines(tmp_path / "runs" / "records.jsonl")] == ["failed"]
    assert "failed: RuntimeError" in (tmp_path / "out" / "check.md").read_text()
    monkeypatch.setattr(nfcodec, "encode_image", real)
    assert kc.main(argv) == 0  # the failed job runs again
    assert "failed" not in (tmp_path / "out" / "check.md").read_text().split("## diner")[1]


def test_missing_image_is_an_error(tmp_path: Path) -> None:
    assert kc.main(["--dataset", str(tmp_path), "--images", "05", "--quiet"]) == 2


def test_unknown_preset_is_an_error(dataset: Path, tmp_path: Path) -> None:
    argv = _argv(dataset, tmp_path, "--images", "01")
    assert kc.main([*argv, "--preset", "no-such-preset"]) == 2
