"""The thread rule (`nfcodec.threads`): explicit counts, the small-image rule, the free-CPU
measurement, and that the count never changes an encode's bytes."""

from __future__ import annotations

from pathlib import Path

import pytest

import nfcodec
from nfcodec import threads
from nfcodec.errors import InputError
from nfcodec.threads import CpuSample, ThreadGovernor
from tests.conftest import TEST_PRESET, gradient_noise


def test_threads_for_gives_back_the_cores_others_use() -> None:
    assert threads.threads_for(2, 2, 0.0) == 2
    assert threads.threads_for(2, 2, 0.2) == 2  # background noise
    assert threads.threads_for(2, 2, 0.6) == 1  # a busy process squeezed by our threads
    assert threads.threads_for(2, 2, 1.0) == 1
    assert threads.threads_for(2, 2, 3.0) == 1  # never below one
    assert threads.threads_for(8, 4, 2.0) == 4  # never above the libraries' pools
    assert threads.threads_for(8, 8, 2.0) == 6


def test_others_busy_takes_this_process_out() -> None:
    before = CpuSample(machine_busy=100.0, own=10.0, wall=50.0)
    after = CpuSample(machine_busy=103.0, own=11.0, wall=52.0)
    assert threads.others_busy_cores(before, after) == pytest.approx(1.0)
    assert threads.others_busy_cores(after, after) == 0.0


def test_sample_cpu_reads_proc_stat(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 50 1000 20 0 10 0 0 0\ncpu0 1 2 3 4\n")
    sample = threads.sample_cpu(str(stat))
    assert sample is not None
    hertz = threads.os.sysconf("SC_CLK_TCK")
    assert sample.machine_busy == pytest.approx(160 / hertz)  # user + system + irq
    assert threads.sample_cpu(str(tmp_path / "missing")) is None
    stat.write_text("intr 1 2 3\n")
    assert threads.sample_cpu(str(stat)) is None


def test_explicit_count_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(threads.ENV_VAR, raising=False)
    assert threads.requested_threads() is None
    assert threads.requested_threads(3) == 3
    monkeypatch.setenv(threads.ENV_VAR, "2")
    assert threads.requested_threads() == 2
    assert ThreadGovernor(1 << 30).fixed == 2
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(threads.ENV_VAR, bad)
        with pytest.raises(InputError, match=threads.ENV_VAR):
            threads.requested_threads()


def test_small_images_use_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(threads.ENV_VAR, raising=False)
    assert ThreadGovernor(threads.SMALL_IMAGE_PIXELS - 1).fixed == 1
    assert ThreadGovernor(threads.SMALL_IMAGE_PIXELS - 1, explicit=2).fixed == 2
    assert ThreadGovernor(threads.SMALL_IMAGE_PIXELS).fixed is None


def test_governor_follows_the_measured_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starts on one thread, takes the free cores after a window, gives one back when another
    process gets busy; restores the libraries' counts at the end."""
    monkeypatch.delenv(threads.ENV_VAR, raising=False)
    samples = iter([
        CpuSample(0.0, 0.0, 0.0),  # at construction
        CpuSample(1.0, 1.0, 1.0),  # only we were busy
        CpuSample(3.0, 2.0, 2.0),  # another process took a core
    ])
    monkeypatch.setattr(threads, "sample_cpu", lambda path=threads.PROC_STAT: next(samples))
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(threads, "library_limit", lambda: 2)
    applied: list[int] = []
    monkeypatch.setattr(threads, "set_threads", applied.append)
    governor = ThreadGovernor(1 << 20)
    assert governor.start() == 1
    assert governor.update(force=True) == 2
    assert governor.update(force=True) == 1
    assert applied == [1, 2, 1] and governor.changes == 2


def test_governor_without_proc_stat_uses_all_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(threads.ENV_VAR, raising=False)
    monkeypatch.setattr(threads, "sample_cpu", lambda path=threads.PROC_STAT: None)
    monkeypatch.setattr(threads, "library_limit", lambda: 3)
    applied: list[int] = []
    monkeypatch.setattr(threads, "set_threads", applied.append)
    governor = ThreadGovernor(1 << 20)
    assert governor.start() == 3 and governor.update(force=True) == 3 and applied == [3]


def test_governor_restores_the_libraries_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    import numba
    import torch

    monkeypatch.delenv(threads.ENV_VAR, raising=False)
    before = (numba.get_num_threads(), torch.get_num_threads())
    governor = ThreadGovernor(16, explicit=1)
    governor.start()
    assert (numba.get_num_threads(), torch.get_num_threads()) == (1, threads.TORCH_THREADS)
    governor.restore()
    assert (numba.get_num_threads(), torch.get_num_threads()) == before


def test_torch_stays_on_its_one_thread_whatever_the_count() -> None:
    """torch's parallel reductions change their last bits with the thread count."""
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        threads.set_threads(2)
        assert torch.get_num_threads() == threads.TORCH_THREADS == 1
    finally:
        torch.set_num_threads(before)


def test_encode_bytes_do_not_depend_on_threads() -> None:
    image = gradient_noise(24, 32, 3)
    files = {
        nfcodec.encode_image(image, preset=TEST_PRESET, device="cpu", threads=n).data
        for n in (1, 2)
    }
    assert len(files) == 1
