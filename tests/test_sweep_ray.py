"""The Ray executor on a real local Ray runtime gives the same records as the process pool."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from nfcodec_eval.store import load_records
from nfcodec_eval.sweep import run_sweep
from PIL import Image

ray = pytest.importorskip("ray")

REPO = Path(__file__).resolve().parents[1]
CODECS = ["tests.sweep_fakes:FakeCodec", "jpeg"]
RATES = {"fake": [2.0, 5.0], "jpeg": [20.0, 80.0]}


@pytest.fixture
def ray_runtime() -> Iterator[None]:
    """A small private runtime whose workers can import ``tests.sweep_fakes``."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": path}},
    )
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "tiny"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for name in ("one", "two"):
        image = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
        Image.fromarray(image).save(folder / f"{name}.png")
    return folder


def essentials(folder: Path) -> dict[str, tuple]:
    """What must not depend on the executor (timings, memory and hosts may)."""
    return {
        r.job_id: (r.status, r.image, r.codec, r.rate, r.num_bytes, r.bpp, r.psnr, r.ms_ssim)
        for r in load_records(folder)
    }


@pytest.mark.timeout(240)
def test_ray_matches_local_executor(dataset: Path, tmp_path: Path, ray_runtime: None) -> None:
    local = run_sweep(dataset, tmp_path / "local", CODECS, workers=2, rates=RATES, quiet=True)
    on_ray = run_sweep(dataset, tmp_path / "ray", CODECS, executor="ray", rates=RATES, quiet=True)
    assert local.all_ok and on_ray.all_ok, load_records(tmp_path / "ray")[0].error
    assert on_ray.ok == local.ok == 8
    assert ray.is_initialized()  # an existing session is reused, not shut down
    expected = essentials(tmp_path / "local")
    assert essentials(tmp_path / "ray") == expected
    assert all(status == "ok" for status, *_ in expected.values())
