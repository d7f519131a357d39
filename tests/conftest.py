"""Shared fixtures: a tiny 'test' preset, small synthetic pictures and a Kodak crop.

The machine running the suite is small and shared, so the kernels are pinned to one thread
before numba or torch is imported anywhere: with oversubscribed cores numba's parallel loops
make tiny images about ten times slower. An explicit NUMBA_NUM_THREADS in the environment wins.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
KODAK_DIR = REPO_ROOT.parent / "shared" / "datasets" / "kodak"

TEST_PRESET = "test"  # 20 steps: enough to exercise every code path, nowhere near good quality
TEST_STEPS = 20
QUALITY_PRESET = "test-quality"  # a few more steps, for the one check that needs a real fit
QUALITY_STEPS = 150
JOINT_PRESET = "test-joint"  # the quality fit through the slow preset's trainer (joint ARM rate)


def register_test_presets() -> None:
    """Add the short presets the tests (and the conformance script) encode with."""
    from nfcodec.fit.presets import PRESETS, Preset

    PRESETS.setdefault(TEST_PRESET, Preset(TEST_PRESET, steps=TEST_STEPS))
    PRESETS.setdefault(QUALITY_PRESET, Preset(QUALITY_PRESET, steps=QUALITY_STEPS))
    PRESETS.setdefault(
        JOINT_PRESET,
        Preset(JOINT_PRESET, steps=QUALITY_STEPS, quantiser="softround", joint_rate=True),
    )


def _limit_torch_threads() -> None:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return
    torch.set_num_threads(1)


@pytest.fixture(scope="session", autouse=True)
def _test_presets() -> Iterator[None]:
    """Register the short presets for the whole session and keep torch on one thread."""
    register_test_presets()
    _limit_torch_threads()
    yield


def gradient_noise(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A smooth diagonal gradient plus mild Gaussian noise, as uint8 (H, W, C)."""
    rng = np.random.default_rng(seed)
    ys = np.linspace(0.0, 1.0, height)[:, None, None]
    xs = np.linspace(0.0, 1.0, width)[None, :, None]
    phase = np.arange(channels)[None, None, :] / max(channels, 1)
    base = 255.0 * (0.5 * ys + 0.3 * xs + 0.2 * phase)
    noisy = base + rng.normal(0.0, 8.0, (height, width, channels))
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


@pytest.fixture
def rgb_image() -> np.ndarray:
    """16x12 RGB gradient + noise."""
    return gradient_noise(12, 16, 3)


@pytest.fixture
def gray_image() -> np.ndarray:
    """16x12 single-channel gradient + noise."""
    return gradient_noise(12, 16, 1, seed=1)


@pytest.fixture
def make_image() -> Callable[..., np.ndarray]:
    """Factory for synthetic pictures of any small size."""
    return gradient_noise


def load_kodak_crop(
    name: str = "kodim23", top: int = 200, left: int = 300, height: int = 24, width: int = 32
) -> np.ndarray:
    """A crop of a Kodak picture, or pytest.skip when the data set is not on this machine."""
    path = KODAK_DIR / f"{name}.png"
    if not path.is_file():
        pytest.skip(f"Kodak image {path} not available")
    from nfcodec.io import read_image

    image = read_image(path)
    return np.ascontiguousarray(image[top : top + height, left : left + width])


@pytest.fixture
def kodak_crop() -> np.ndarray:
    """A 32x24 crop of kodim23 (the parrots), skipped when the data set is absent."""
    return load_kodak_crop()


@pytest.fixture
def png_file(tmp_path: Path, rgb_image: np.ndarray) -> Path:
    """The 16x12 RGB picture written as a PNG in a fresh folder."""
    from nfcodec.io import write_png

    path = tmp_path / "input.png"
    write_png(rgb_image, path)
    return path
