"""scripts/kodak_check.py on two tiny crops with a 10-step preset: report, records, resume."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

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
    """A 10-step preset, and torch's thread count restored after `--threads 1`."""
    monkeypatch.setitem(PRESETS, "test", Preset("test", steps=10))
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _argv(dataset: Path, tmp_path: Path, *extra: str) -> list[str]:
    return [
        "--dataset", str(dataset), "--preset", "test", "--device", "cpu", "--threads", "1",
        "--out", str(tmp_path / "out" / "check.md"), "--records", str(tmp_path / "runs.jsonl"),
        "--quiet", *extra,
    ]


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


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
    points = kc.pillow_sweep(np.ascontiguousarray(image), "JPEG", [10, 90])
    assert [p.quality for p in points] == [10, 90]
    assert points[0].bpp < points[1].bpp and points[0].psnr < points[1].psnr
    sizes = [p.bpp * 32 * 24 / 8 for p in points]
    assert all(abs(size - round(size)) < 1e-9 for size in sizes)


def test_image_name() -> None:
    assert kc.image_name("1") == kc.image_name("01") == kc.image_name("kodim01.png") == "kodim01"


def test_main_writes_report_and_records_then_resumes(
    dataset: Path, tmp_path: Path, tiny_preset: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = kc.encode_run
    argv = _argv(dataset, tmp_path, "--images", "01", "23", "--configs", "diner")
    assert kc.main(argv) == 0
    report = (tmp_path / "out" / "check.md").read_text()
    records_path = tmp_path / "runs.jsonl"
    records = _lines(records_path)
    assert len(records) == 4
    assert {(r["image"], r["target_bpp"]) for r in records} == {
        (i, t) for i in ("kodim01", "kodim23") for t in (0.5, 1.0)
    }
    for record in records:
        assert record["bpp"] == pytest.approx(record["bytes"] * 8 / (32 * 24))
        assert math.isfinite(record["psnr"]) and record["decode_seconds"] > 0
        assert record["config"] == "diner" and record["field"] == "diner"
        for baseline in ("jpeg", "webp"):
            match = record[baseline]
            if match is not None:  # tiny pictures may fall outside the baseline sweep
                assert match["lo"]["bpp"] <= record["bpp"] <= match["hi"]["bpp"]
    assert "## diner" in report and "| kodim01 | 0.5 |" in report and "| kodim23 | 1 |" in report
    assert "JPEG PSNR @bpp" in report and "linearly interpolated" in report
    assert "mean of per-image PSNR" in report and "Wins vs JPEG" in report
    assert "torch threads 1" in report and "scripts/kodak_check.py" in report

    # Resume: nothing is encoded again, the report is rebuilt from the records.
    def refuse(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise AssertionError("a finished run was encoded again")

    monkeypatch.setattr(kc, "encode_run", refuse)
    assert kc.main(argv) == 0
    assert len(_lines(records_path)) == 4
    assert "4 run(s) were taken from the records" in (tmp_path / "out" / "check.md").read_text()

    # A wider selection encodes only what is new; --fresh encodes again.
    calls: list[str] = []

    def counting(path: Path, original: np.ndarray, config: str, *rest: Any) -> dict[str, Any]:
        calls.append(config)
        return real(path, original, config, *rest)

    monkeypatch.setattr(kc, "encode_run", counting)
    wider = _argv(dataset, tmp_path, "--images", "01", "--targets", "0.5",
                  "--configs", "diner", "hashgrid+rpp")
    assert kc.main(wider) == 0
    assert calls == ["hashgrid+rpp"]
    added = _lines(records_path)[-1]
    assert (added["config"], added["permute"], added["seed"]) == ("hashgrid+rpp", True, 1)
    assert math.isfinite(added["psnr"])
    assert kc.main([*_argv(dataset, tmp_path, "--images", "01", "--targets", "0.5",
                           "--configs", "diner"), "--fresh"]) == 0
    assert calls == ["hashgrid+rpp", "diner"]
    assert len(_lines(records_path)) == 6


def test_failed_run_is_reported_not_recorded(
    dataset: Path, tmp_path: Path, tiny_preset: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr(kc, "encode_run", boom)
    argv = _argv(dataset, tmp_path, "--images", "01", "--targets", "0.5", "--configs", "diner")
    assert kc.main(argv) == 1
    assert not (tmp_path / "runs.jsonl").exists()
    assert "failed: RuntimeError" in (tmp_path / "out" / "check.md").read_text()


def test_missing_image_is_an_error(tmp_path: Path) -> None:
    assert kc.main(["--dataset", str(tmp_path), "--images", "05", "--quiet"]) == 2


def test_unknown_preset_is_an_error(dataset: Path, tmp_path: Path) -> None:
    argv = _argv(dataset, tmp_path, "--images", "01")
    assert kc.main([*argv, "--preset", "no-such-preset"]) == 2
