"""Run the per-crop topology of a batch on several CPU cores.

Much of the per-crop work holds the GIL (gudhi and giotto-ph's ripser, the numpy
and scipy glue around the compiled kernels), so threads would not overlap it; the
crops of a batch are split instead into groups of about equal cost, one per
process: the calling process computes one group and worker processes the others.
Pools are created on first use, kept for the life of the process (one per size)
and shut down at exit. On Linux workers are forked, as torch's DataLoader workers
are: they start at once, need no ``if __name__ == "__main__"`` guard in the user's
script, and run only numpy, scipy, OpenCV, numba-compiled and ripser code (never
torch or CUDA, whose state a fork does not carry over safely). Elsewhere they are
spawned, which, as for DataLoader workers there, needs the main guard.

``workers`` everywhere means: ``'auto'`` = as many processes as usable cores
(divided among the local ranks of a torchrun job, read from ``LOCAL_WORLD_SIZE``),
at most one per crop; ``0`` or ``1`` = in the calling process; ``n > 1`` = up to
``n`` processes, the calling one included. Results never depend on it.
"""
from __future__ import annotations

import atexit
import multiprocessing
import os
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Dict, List, Optional, Sequence, TypeVar, Union

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


def balanced_lanes(costs: Sequence[float], lanes: int) -> List[List[int]]:
    """Split item indices into ``lanes`` groups of similar total cost.

    Longest-processing-time-first: items by decreasing cost, each to the group with
    the least cost so far (within 4/3 of the best split). Each group lists its items
    in decreasing cost; ties are broken by index, so the split is deterministic.
    """
    lanes = max(1, min(lanes, len(costs)))
    groups: List[List[int]] = [[] for _ in range(lanes)]
    totals = [0.0] * lanes
    for index in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        lightest = min(range(lanes), key=lambda g: (totals[g], g))
        groups[lightest].append(index)
        totals[lightest] += costs[index]
    return groups


def _run_lane(job):
    function, items = job
    return [function(item) for item in items]


def parallel_map(
    function: Callable[[T], R], items: Sequence[T], workers: Workers = "auto", costs: Optional[Sequence[float]] = None
) -> List[R]:
    """``[function(item) for item in items]``, in order, over ``workers`` processes.

    ``function`` must be a module-level function (it is pickled by reference).

    With ``costs`` (an estimate per item), the items are split into one group per
    process (:func:`balanced_lanes`); the calling process computes the first group
    itself while worker processes compute the others, one message each. Items that
    take about a millisecond gain most from this: per-item messages and waking an
    extra process cost about as much as the items. Without ``costs`` every item is a
    message to a pool of ``workers`` processes.

    If a worker dies (killed for memory, say), the pool is dropped, a warning is
    issued and the items are computed in this process.
    """
    size = resolve_workers(workers, len(items))
    if size <= 1:
        return [function(item) for item in items]
    if costs is None:
        inline, groups, pool_size = [], [[i] for i in range(len(items))], size
    else:
        inline, *groups = balanced_lanes(costs, size)
        pool_size = size - 1
    ordered: List[R] = [None] * len(items)  # type: ignore[list-item]
    try:
        pool = _pool(pool_size)
        futures = [pool.submit(_run_lane, (function, [items[i] for i in group])) for group in groups]
        for index in inline:
            ordered[index] = function(items[index])
    except BrokenProcessPool as error:
        return _recompute_here(function, items, pool_size, error, stacklevel=3)
    return _collect(function, items, groups, futures, pool_size, ordered)


def _recompute_here(function: Callable[[T], R], items: Sequence[T], pool_size: int, error: BaseException,
                    stacklevel: int) -> List[R]:
    """A worker died: drop its pool, warn (at the public caller's line), and compute every item in this process."""
    _POOLS.pop(pool_size, None)
    warnings.warn(
        f"tghem: a topology worker process died ({error}); computing this batch in the main process",
        RuntimeWarning,
        stacklevel=stacklevel,
    )
    return [function(item) for item in items]


def _collect(function: Callable[[T], R], items: Sequence[T], groups: List[List[int]], futures: list, pool_size: int,
             ordered: List[R]) -> List[R]:
    """Fill ``ordered`` with the workers' results of ``groups`` (or recompute everything if one died)."""
    try:
        for group, future in zip(groups, futures):
            for index, result in zip(group, future.result()):
                ordered[index] = result
    except BrokenProcessPool as error:
        return _recompute_here(function, items, pool_size, error, stacklevel=4)
    return ordered


class PendingMap:
    """The results of :func:`submit_map`, in order, once :meth:`result` is called."""

    def __init__(self, function: Callable[[T], R], items: Sequence[T], groups: List[List[int]], futures: list,
                 pool_size: Optional[int]) -> None:
        self._function, self._items, self._groups, self._futures, self._pool_size = function, items, groups, futures, pool_size

    def result(self) -> List[R]:
        """Wait for the workers (or, without workers, compute here) and return the results in order."""
        function, items = self._function, self._items
        if not self._futures:
            return [function(item) for item in items]
        ordered: List[R] = [None] * len(items)  # type: ignore[list-item]
        return _collect(function, items, self._groups, self._futures, self._pool_size, ordered)


def submit_map(
    function: Callable[[T], R], items: Sequence[T], workers: Workers = "auto", costs: Optional[Sequence[float]] = None
) -> PendingMap:
    """Start ``[function(item) for item in items]`` in worker processes and return at once.

    For a caller that has other work to do meanwhile (TGHEM computes its pixel loss while the
    workers compute the topology): with ``workers`` resolving to ``n >= 2`` processes, the items
    go, in groups of about equal ``costs`` (:func:`balanced_lanes`), to ``n - 1`` worker
    processes, leaving the calling process its own work; with ``n <= 1`` nothing starts and
    :meth:`PendingMap.result` computes the items in the calling process.
    """
    size = resolve_workers(workers, len(items) + 1)
    if size <= 1 or not items:
        return PendingMap(function, items, [], [], None)
    pool_size = size - 1
    groups = balanced_lanes(costs if costs is not None else [1.0] * len(items), pool_size)
    try:
        pool = _pool(pool_size)
        futures = [pool.submit(_run_lane, (function, [items[i] for i in group])) for group in groups]
    except BrokenProcessPool:
        _POOLS.pop(pool_size, None)
        return PendingMap(function, items, [], [], None)
    return PendingMap(function, items, groups, futures, pool_size)
