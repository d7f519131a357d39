"""Ways to run sweep jobs: in-process, on a local process pool, or as Ray tasks.

Every executor is a generator of `Record`s yielded *as jobs finish*, so the
driver can append each one to the store immediately; killing the driver loses
only jobs that had not finished yet.

* ``serial`` — runs jobs one after another in this process (debugging, pdb).
* ``local``  — a ``concurrent.futures`` process pool using the ``spawn`` start
  method: workers never inherit the driver's threads, locks or torch state.
  Each worker gets ``cpus // workers`` torch/OpenMP threads so the pool does
  not oversubscribe the machine. A worker that dies
  (segfault, OOM kill) turns the jobs it may have held into 'failed' records and
  the pool is rebuilt for the remaining jobs.
* ``ray``    — one Ray task per job, requesting one GPU for GPU codecs and one CPU
  otherwise. ``address=None`` starts a private local runtime (stopped afterwards);
  an already-initialised Ray session is reused as is. On a cluster, every node needs
  this package (and any ``module:attr`` codec module) importable.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Generator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from nfcodec.errors import InputError
from nfcodec_eval.jobs import Job, failed_record, run_job
from nfcodec_eval.schema import Record

EXECUTORS = ("local", "serial", "ray")

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


class ExecutorError(InputError):
    """The requested executor cannot be used (unknown name, Ray not installed)."""


def run_jobs(
    jobs: Sequence[Job],
    executor: str = "local",
    address: str | None = None,
    workers: int | None = None,
) -> Generator[Record, None, None]:
    """Records of ``jobs`` in completion order, using the named executor.

    Closing the generator early stops the executor (pending jobs are cancelled).

    Set-up problems (unknown executor, missing Ray) raise here, before any job runs.
    """
    if workers is not None and workers < 1:
        raise ExecutorError(f"workers must be at least 1, got {workers}")
    if executor == "serial":
        return _run_serial(jobs)
    if executor == "local":
        return _run_local(jobs, workers or os.cpu_count() or 1)
    if executor == "ray":
        return _run_ray(_import_ray(), jobs, address, workers)
    raise ExecutorError(f"unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}")


# ---------------------------------------------------------------------------- serial


def _run_serial(jobs: Sequence[Job]) -> Generator[Record, None, None]:
    for job in jobs:
        yield run_job(job)


# ----------------------------------------------------------------------------- local


def threads_per_worker(workers: int, cpus: int | None = None) -> int:
    """Share the machine's cores evenly between pool workers (at least one each)."""
    return max(1, (cpus or os.cpu_count() or 1) // max(1, workers))


def _init_worker(threads: int, driver_pid: int) -> None:
    """Pool initializer: cap math-library threads before the codec imports torch; exit with
    the driver."""
    for var in _THREAD_VARS:
        os.environ[var] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    exit_with_parent(driver_pid)


PARENT_POLL_SECONDS = 0.5


def exit_with_parent(parent_pid: int, poll_seconds: float = PARENT_POLL_SECONDS) -> None:
    """End this process soon after `parent_pid` dies, however it died (SIGKILL included).

    A worker of a killed driver is re-parented and would otherwise live on, holding memory and
    the multiprocessing resource tracker's pipe (so the tracker lives on too). Polling the
    parent id works on every POSIX system and cannot fire early, unlike Linux's
    PR_SET_PDEATHSIG, which follows the thread that started the worker.
    """
    if os.getppid() != parent_pid:  # the parent is already gone
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_seconds)
        os._exit(1)  # no cleanup: the driver that would want results is dead

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _mp_context() -> multiprocessing.context.BaseContext:
    """``spawn``: fresh interpreters that see the driver's *current* environment.

    (A forkserver would hand every later pool the environment of the moment it
    started, which silently ignores variables set between sweeps.)
    """
    return multiprocessing.get_context("spawn")


def _run_local(jobs: Sequence[Job], workers: int) -> Generator[Record, None, None]:
    """Process pool with at most ``workers`` jobs submitted at a time.

    Keeping the window that small means a dead worker only takes down the jobs
    that were really in flight, not the whole queue.
    """
    queue = deque(jobs)
    threads = threads_per_worker(workers)
    while queue:
        pool = ProcessPoolExecutor(
            max_workers=min(workers, len(queue)),
            mp_context=_mp_context(),
            initializer=_init_worker,
            initargs=(threads, os.getpid()),
        )
        finished = False
        try:
            yield from _drain_pool(pool, queue, workers)
            finished = True
        finally:
            # On an interrupted driver, do not wait for queued jobs that nobody will record.
            pool.shutdown(wait=finished, cancel_futures=not finished)


def _drain_pool(
    pool: ProcessPoolExecutor, queue: deque[Job], window: int
) -> Generator[Record, None, None]:
    """Feed the pool until the queue is empty or the pool breaks."""
    in_flight: dict[Future[Record], Job] = {}
    broken = False
    while in_flight or (queue and not broken):
        while queue and not broken and len(in_flight) < window:
            job = queue.popleft()
            try:
                in_flight[pool.submit(run_job, job)] = job
            except BrokenProcessPool:
                queue.appendleft(job)
                broken = True
        if not in_flight:
            break
        done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
        for future in done:
            job = in_flight.pop(future)
            try:
                record = future.result()
            except BrokenProcessPool:
                broken = True
                record = failed_record(job, "worker process died while this job was in flight")
            except Exception as exc:  # e.g. the job or record could not be pickled
                record = failed_record(job, f"executor error: {type(exc).__name__}: {exc}")
            yield record


# ------------------------------------------------------------------------------- ray


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ExecutorError(
            "the ray executor needs Ray: install nfcodec[ray] (pip install 'nfcodec[ray]')"
        ) from exc
    return ray


def _task_options(job: Job) -> dict[str, Any]:
    """Resources of one task: a whole GPU for GPU codecs, else one CPU.

    ``max_retries=0``: a crashed task is recorded as failed and retried on resume,
    rather than silently re-run (which would also skew timings).
    """
    if job.uses_gpu:
        return {"num_gpus": 1, "num_cpus": 1, "max_retries": 0}
    return {"num_cpus": 1, "max_retries": 0}


def _run_ray(
    ray: Any, jobs: Sequence[Job], address: str | None, workers: int | None
) -> Generator[Record, None, None]:
    started_here = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address)
        else:
            ray.init(num_cpus=workers, include_dashboard=False)
        started_here = True
    pending: dict[Any, Job] = {}
    try:
        task = ray.remote(run_job)
        for job in jobs:
            pending[task.options(**_task_options(job)).remote(job)] = job
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                job = pending.pop(ref)
                try:
                    record = ray.get(ref)
                except Exception as exc:  # worker crash, OOM kill, lost node
                    record = failed_record(job, f"ray task failed: {type(exc).__name__}: {exc}")
                yield record
    finally:
        for ref in pending:
            # Best effort: a task may finish between ray.wait and here.
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        if started_here:
            ray.shutdown()
