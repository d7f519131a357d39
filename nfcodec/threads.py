"""How many threads numba's kernels may use: the CPUs other processes leave free.

Both libraries' OpenMP threads spin while they wait, so a thread whose core another busy
process wants costs both processes several times its share (eval/results/threads/NOTES.md).
The rule, applied by `ThreadGovernor`:
- `NFCODEC_THREADS=N` (the CLI's `--threads N`) fixes the count at N;
- an image under `SMALL_IMAGE_PIXELS` uses one thread: a second one buys nothing there;
- otherwise the count is the CPUs that other processes left idle over the last
  `WINDOW_SECONDS` (from /proc/stat, this process's own CPU time taken out), re-measured while
  the work runs, so an encode gives a core back when another process starts and takes it back
  when that one ends. Without /proc/stat (not Linux) it is all of numba's threads.
Thread counts never change results: numba's kernels give the same bits with any count, and
torch runs on `TORCH_THREADS` whatever the count, because its parallel reductions (ATen's,
MKL's) change their last bits with the thread count and so, over a fit, the file.
The limit is what numba was started with (NUMBA_NUM_THREADS).
This module imports neither numba nor torch; it sets whichever of them is already loaded.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass

ENV_VAR = "NFCODEC_THREADS"
SMALL_IMAGE_PIXELS = 1 << 16  # 256x256: a 256x192 encode took as long with 2 threads as with 1
WINDOW_SECONDS = 1.0  # how often the free CPUs are re-measured
# CPU time (in cores) another process may use before a thread is given back: background noise
# stays below it, while a busy process squeezed by our spinning threads still shows above it.
SLACK_CORES = 0.25
PROC_STAT = "/proc/stat"
TORCH_THREADS = 1


@dataclass(frozen=True)
class CpuSample:
    """Machine-wide busy CPU seconds, this process's CPU seconds, and the wall clock."""

    machine_busy: float
    own: float
    wall: float


def sample_cpu(path: str = PROC_STAT) -> CpuSample | None:
    """Now's counters, or None where /proc/stat cannot be read."""
    try:
        with open(path, encoding="ascii") as handle:
            fields = handle.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 5:
        return None
    ticks = [int(v) for v in fields[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    busy = sum(ticks[:8]) - idle  # guest time is already inside user time
    return CpuSample(busy / os.sysconf("SC_CLK_TCK"), time.process_time(), time.monotonic())


def others_busy_cores(before: CpuSample, after: CpuSample) -> float:
    """Cores other processes kept busy on average between two samples."""
    wall = after.wall - before.wall
    if wall <= 0:
        return 0.0
    others = (after.machine_busy - before.machine_busy) - (after.own - before.own)
    return max(0.0, others / wall)


def threads_for(machine_cpus: int, limit: int, others_busy: float) -> int:
    """Threads to run when other processes keep `others_busy` of the machine's cores busy:
    the free cores, between 1 and `limit`."""
    taken = max(0, math.ceil(others_busy - SLACK_CORES))
    return max(1, min(limit, machine_cpus - taken))


def requested_threads(explicit: int | None = None) -> int | None:
    """An explicit count (argument, else NFCODEC_THREADS), or None for the automatic rule."""
    if explicit is not None:
        return explicit
    value = os.environ.get(ENV_VAR, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        from nfcodec.errors import InputError

        raise InputError(f"{ENV_VAR}={value!r}: expected a whole number of threads, 1 or more")
    return int(value)


def library_limit() -> int:
    """The most threads numba can run (its pool's size) on the CPUs this process may use."""
    limits = []
    numba = sys.modules.get("numba")
    if numba is not None:
        limits.append(int(numba.config.NUMBA_NUM_THREADS))
    try:
        limits.append(len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        limits.append(os.cpu_count() or 1)
    return min(limits)


def current_threads() -> tuple[int | None, int | None]:
    """numba's and torch's thread counts now (None for a library not loaded)."""
    numba, torch = sys.modules.get("numba"), sys.modules.get("torch")
    return (
        None if numba is None else int(numba.get_num_threads()),
        None if torch is None else int(torch.get_num_threads()),
    )


def set_threads(count: int) -> None:
    """Run numba's kernels on `count` threads and torch's on TORCH_THREADS (those loaded)."""
    numba = sys.modules.get("numba")
    if numba is not None:
        numba.set_num_threads(max(1, min(count, int(numba.config.NUMBA_NUM_THREADS))))
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != TORCH_THREADS:
        torch.set_num_threads(TORCH_THREADS)


class ThreadGovernor:
    """Keeps the thread count at what the rule above allows; call `update()` often (cheap)."""

    def __init__(self, pixels: int, explicit: int | None = None) -> None:
        fixed = requested_threads(explicit)
        if fixed is None and pixels < SMALL_IMAGE_PIXELS:
            fixed = 1
        self.fixed = fixed
        self.last = sample_cpu() if fixed is None else None
        self.threads = fixed if fixed is not None else 1
        self.changes = 0
        self._before: tuple[int | None, int | None] = (None, None)

    def start(self) -> int:
        """Apply the starting count and return it: the fixed one, else one thread until the
        first window has shown what other processes use (a second spinning beside a busy
        process costs more than a second idle one would have bought)."""
        self._before = current_threads()
        if self.fixed is not None:
            self.threads = self.fixed
        elif self.last is None:  # nothing to measure with: all of numba's threads
            self.threads = library_limit()
        else:
            self.threads = 1
        set_threads(self.threads)
        return self.threads

    def restore(self) -> None:
        """Give numba and torch back the thread counts they had before `start`."""
        numba_threads, torch_threads = self._before
        numba, torch = sys.modules.get("numba"), sys.modules.get("torch")
        if numba is not None and numba_threads is not None:
            numba.set_num_threads(numba_threads)
        if torch is not None and torch_threads is not None:
            torch.set_num_threads(torch_threads)

    def update(self, *, force: bool = False) -> int:
        """Re-measure once a window has passed (or now, if `force`: a decode's window is its
        start-up); returns the thread count in force."""
        if self.last is None:
            return self.threads
        if not force and time.monotonic() - self.last.wall < WINDOW_SECONDS:
            return self.threads
        sample = sample_cpu()
        if sample is None:
            return self.threads
        others = others_busy_cores(self.last, sample)
        wanted = threads_for(os.cpu_count() or 1, library_limit(), others)
        self.last = sample
        if wanted != self.threads:
            set_threads(wanted)
            self.threads = wanted
            self.changes += 1
        return self.threads
