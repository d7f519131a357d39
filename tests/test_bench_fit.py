"""scripts/bench_fit.py end to end on two 48x32 crops with a few steps: the report's shape."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from nfcodec.fit.presets import preset_named
from nfcodec.io import write_png
from tests.conftest import gradient_noise
from tests.script_loader import load_script

NAMES = ("kodim01", "kodim23")
TARGETS = ("10", "15")


bf = load_script("bench_fit")


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """Two 48x32 RGB pictures named like Kodak files, different enough to fit differently."""
    folder = tmp_path / "kodak"
    folder.mkdir()
    for seed, name in enumerate(NAMES):
        write_png(gradient_noise(32, 48, 3, seed=seed), folder / f"{name}.png")
    return folder


def _rows(report: str, header_start: str) -> list[list[str]]:
    """Body rows of the markdown table whose header line starts with `header_start`."""
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def _positive(cell: str) -> float:
    value = float(cell.rstrip("x%"))
    assert math.isfinite(value) and value > 0, cell
    return value


def test_report_rows_and_numbers(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "results" / "bench_fit.md"
    argv = [
        "--quick", "--dataset", str(dataset), "--steps", "20", "--naive-steps", "10",
        "--eval-every", "5", "--targets", *TARGETS, "--copy-mib", "16", "--out", str(out),
    ]  # fmt: skip
    assert bf.main(argv) == 0
    report = out.read_text()
    assert "copy bandwidth" in report and "torch" in report and "numba" in report

    speed = _rows(report, "| image | run | steps run | batch px")
    assert {(row[0], row[1]) for row in speed} == {
        (name, run) for name in NAMES for run in ("fast", "naive", "fast+RPP")
    }
    for row in speed:
        assert int(row[2]) == (10 if row[1] == "naive" else 20)
        assert int(row[3]) == max(1, int(48 * 32 * preset_named("medium").batch_fraction))
        for cell in row[4:10]:  # steps/s, wall s, grid fwd/bwd ms, Mlookups/s, GB/s
            _positive(cell)
        shares = [float(cell.rstrip("%")) for cell in row[11:15]]
        assert all(s > 0 for s in shares[:3]) and abs(sum(shares) - 100) <= 2
        _positive(row[15])  # hard s/step

    speedup = _rows(report, "| image | fast steps/s")
    assert [row[0] for row in speedup] == [*NAMES, "geometric mean"]
    for row in speedup[:2]:
        for cell in row[1:]:
            _positive(cell)

    targets = _rows(report, "| image | run | steps run | 10 dB")
    assert len(targets) == 6
    for row in targets:
        assert all(cell == "not reached" or " s (step " in cell for cell in row[3:5])
        psnr, bpp = float(row[5]), float(row[6])
        assert math.isfinite(psnr) and 5 < psnr < 100
        assert math.isfinite(bpp) and bpp > 0
    fast_rows = [row for row in targets if row[1] == "fast"]
    assert any(row[3] != "not reached" for row in fast_rows)  # 10 dB is easy in 20 steps

    rpp = _rows(report, "| image | 10 dB plain / RPP")
    assert [row[0] for row in rpp] == list(NAMES)
    assert all(" / " in cell for row in rpp for cell in row[1:])


def test_no_rpp_and_missing_image(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.md"
    common = ["--dataset", str(dataset), "--copy-mib", "16", "--out", str(out)]
    argv = [*common, "--images", "kodim23", "--steps", "6", "--naive-steps", "4", "--no-rpp"]
    assert bf.main(argv) == 0
    report = out.read_text()
    assert (
        "| fast+RPP |" not in report
        and "## Random pixel" not in report
        and "| kodim23 | naive | 4 |" in report
    )
    assert bf.main([*common, "--images", "kodim05"]) == 2  # absent: refused before any timing


def test_clock_excludes_pauses() -> None:
    """Evaluation time must not count as fitting time."""
    clock = bf.Clock()
    start = clock.now()
    with clock.pause():
        time.sleep(0.05)
    assert clock.paused >= 0.05
    assert clock.now() - start < 0.04
