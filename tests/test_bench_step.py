"""scripts/bench_step.py: times soft steps on any image and names the source it measured."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.script_loader import load_script

bench_step = load_script("bench_step")


def test_reports_ms_per_step_and_the_measured_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "tiny.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).save(image)
    for preset in ("medium", "slow"):  # slow's step includes the joint ARM rate kernel
        argv = ["--image", str(image), "--steps", "3", "--warmup", "1", "--preset", preset]
        assert bench_step.main(argv) == 0
        line = capsys.readouterr().out.strip()
        ms, unit = line.split()[:2]
        assert float(ms) > 0 and unit == "ms/step"
        assert f"tiny.png  {preset}  3 steps" in line
        assert "from " + str(Path(__file__).resolve().parents[1]) in line
