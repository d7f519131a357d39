"""A sweep driver killed with SIGKILL leaves no pool worker and no resource tracker behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.sweep_fakes import MARKER_ENV

REPO = Path(__file__).resolve().parents[1]
SLOW = "tests.sweep_fakes:SlowFakeCodec"
PROC = Path("/proc")

pytestmark = pytest.mark.skipif(not (PROC / "self" / "stat").exists(), reason="needs Linux /proc")


def parent_of(pid: int) -> int | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for a (re-parented) reaper."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def children_of(pid: int) -> list[int]:
    numbered = (int(p.name) for p in PROC.iterdir() if p.name.isdigit())
    return [child for child in numbered if parent_of(child) == pid]


def command_line(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_sigkilled_sweep_leaves_no_processes(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    for index in range(3):
        pixels = np.random.default_rng(index).integers(0, 256, (16, 16, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img{index}.png")
    marker = tmp_path / "marker.txt"
    script = textwrap.dedent(
        f"""
        from nfcodec_eval.sweep import run_sweep
        run_sweep({str(folder)!r}, {str(tmp_path / 'out')!r}, [{SLOW!r}], executor="local",
                  workers=2, quiet=True)
        """
    )
    env = {**os.environ, MARKER_ENV: str(marker)}
    driver = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=env)
    spawned: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and driver.poll() is None:
            if marker.exists() and len(marker.read_text().splitlines()) >= 2:
                spawned = children_of(driver.pid)
                break
            time.sleep(0.05)
        assert driver.poll() is None, "sweep finished before it could be killed"
        workers = [pid for pid in spawned if "resource_tracker" not in command_line(pid)]
        trackers = [pid for pid in spawned if "resource_tracker" in command_line(pid)]
        assert workers and trackers, f"expected workers and a resource tracker among {spawned}"
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(alive(pid) for pid in spawned):
            time.sleep(0.1)
        left = [(pid, command_line(pid)[:80]) for pid in spawned if alive(pid)]
        assert not left, f"still running after the driver died: {left} (trackers: {trackers})"
    finally:
        if driver.poll() is None:
            driver.kill()
        for pid in spawned:  # never leave a stray process behind, even when the test fails
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
