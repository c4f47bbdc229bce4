"""Run the per-crop topology of a batch on several CPU cores.

The persistence engines (gudhi, giotto-ph's ripser) hold the GIL, so threads would
not overlap them; the crops of a batch go to a pool of worker processes instead.
Pools are created on first use, kept for the life of the process (one per size)
and shut down at exit. On Linux workers are forked, as torch's DataLoader workers
are: they start at once, need no ``if __name__ == "__main__"`` guard in the user's
script, and run only numpy, scipy, OpenCV and ripser code (never torch or CUDA,
whose state a fork does not carry over safely). Elsewhere they are spawned, which,
as for DataLoader workers there, needs the main guard.

``workers`` everywhere means: ``'auto'`` = as many processes as usable cores
(divided among the local ranks of a torchrun job, read from ``LOCAL_WORLD_SIZE``),
at most one per crop; ``0`` or ``1`` = in the calling process; ``n > 1`` = up to
``n`` processes. Results never depend on it.
"""
from __future__ import annotations

import atexit
import multiprocessing
import os
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Dict, List, Sequence, TypeVar, Union

Workers = Union[int, str]
T = TypeVar("T")
R = TypeVar("R")

_POOLS: Dict[int, ProcessPoolExecutor] = {}


def usable_cores() -> int:
    """Cores this process may run on, shared among the local ranks of a torchrun job."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        local_ranks = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        local_ranks = 1
    return max(1, cores // local_ranks)


def check_workers(workers: Workers) -> Workers:
    """Validate a ``workers`` setting: ``'auto'`` or an int >= 0."""
    if isinstance(workers, str):
        if workers != "auto":
            raise ValueError(f"workers must be 'auto' or an int >= 0, got {workers!r}")
        return workers
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise TypeError(f"workers must be 'auto' or an int >= 0, got {type(workers).__name__} {workers!r}")
    if workers < 0:
        raise ValueError(f"workers must be 'auto' or an int >= 0, got {workers}")
    return workers


def resolve_workers(workers: Workers, tasks: int) -> int:
    """Number of processes to use for ``tasks`` independent tasks (1 = in process)."""
    wanted = usable_cores() if workers == "auto" else max(1, int(workers))
    return max(1, min(wanted, tasks))


def _context():
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")


def _pool(size: int) -> ProcessPoolExecutor:
    pool = _POOLS.get(size)
    if pool is None:
        pool = ProcessPoolExecutor(max_workers=size, mp_context=_context())
        _POOLS[size] = pool
    return pool


@atexit.register
def shutdown_pools() -> None:
    """Stop every worker pool (also called at interpreter exit)."""
    while _POOLS:
        _, pool = _POOLS.popitem()
        pool.shutdown(wait=True, cancel_futures=True)


def parallel_map(function: Callable[[T], R], items: Sequence[T], workers: Workers = "auto") -> List[R]:
    """``[function(item) for item in items]``, in order, over worker processes.

    ``function`` must be a module-level function (it is pickled by reference). If a
    worker dies (killed for memory, say), the pool is dropped, a warning is issued
    and the items are computed in this process.
    """
    size = resolve_workers(workers, len(items))
    if size <= 1:
        return [function(item) for item in items]
    try:
        return list(_pool(size).map(function, items))
    except BrokenProcessPool as error:
        _POOLS.pop(size, None)
        warnings.warn(
            f"tghem: a topology worker process died ({error}); computing this batch in the main process",
            RuntimeWarning,
            stacklevel=2,
        )
        return [function(item) for item in items]
