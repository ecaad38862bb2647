"""Forked worker processes (reach parts, the bike mode, the data area, PDF sheets): whether this process may, and how."""

from __future__ import annotations

import functools
import gc
import multiprocessing
import multiprocessing.pool
import multiprocessing.process
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar, cast

T = TypeVar("T")


def may_fork() -> bool:
    """Whether this process may fork workers: the platform forks, it is not daemonic, and no Dask task runs here.

    A daemonic process (a Dask worker process building a region's area) may not have children of
    its own. A Dask worker whose tasks run in threads of this process (a local cluster of threads)
    has other threads inside C libraries at any moment, and a fork copies their locks held: the
    child then waits for ever on one (pyproj's fork handler closing its SQLite database did, in a
    region build of two areas), so a task there runs its work in its own thread instead.
    """
    return (
        "fork" in multiprocessing.get_all_start_methods()
        and not multiprocessing.current_process().daemon
        and not _in_dask_task()
    )


def forks(fork: bool = True) -> bool:
    """Whether work is forked beside this process: asked to (`fork`), on more than one core, and :func:`may_fork`."""
    return fork and (os.cpu_count() or 1) > 1 and may_fork()


def _in_dask_task() -> bool:
    """Whether this thread runs a task of a Dask worker (without importing Dask where it is not in use)."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return False
    try:
        distributed.get_worker()
    except ValueError:
        return False
    return True


def fork_pool(processes: int) -> multiprocessing.pool.Pool:
    """Fork a pool of `processes` workers whose garbage collector leaves what they inherit alone.

    This process's objects are frozen out of the collector while the workers are forked
    (:func:`gc.freeze`), so a worker's collections walk only the objects it makes itself,
    never the build it inherited (those walks took 40 % of a PDF sheet worker's CPU, and
    copied every page they touched); this process's own collector is as before.

    Parameters
    ----------
    processes
        Number of workers.

    Returns
    -------
    multiprocessing.pool.Pool
    """
    gc.freeze()
    try:
        return multiprocessing.get_context("fork").Pool(processes)
    finally:
        gc.unfreeze()


_JOBS: list[Callable[[], object]] = []  # the jobs forked by beside(), inherited by the processes, never pickled


def _run_last_job() -> object:
    return _JOBS[-1]()


@contextmanager
def beside(job: Callable[[], T], fork: bool = True) -> Iterator[Callable[[], T]]:
    """Run `job` in a forked process while this one goes on; yield the function that waits for its result.

    The process inherits `job` and everything it refers to (only the result is pickled, back).
    Where :func:`forks` says no (without `fork`, on one core, where this process may not fork),
    `job` runs here when its result is first asked for.

    Parameters
    ----------
    job
        The work, without arguments (a :func:`functools.partial`).
    fork
        Whether to fork at all (a setting such as ``parallel_modes``).

    Yields
    ------
    callable
        Returns `job`'s result, waiting for it (raises what `job` raised).
    """
    if not forks(fork):
        yield functools.cache(job)
        return
    _JOBS.append(job)
    try:
        with fork_pool(1) as pool:
            result = pool.apply_async(_run_last_job)
            yield lambda: cast(T, result.get())
    finally:
        _JOBS.remove(job)


def fork_process(target: Callable[..., object], *args: object) -> multiprocessing.process.BaseProcess:
    """Start `target(*args)` in a forked process of its own, which may fork workers in turn (it is not a daemon).

    As for :func:`fork_pool`, this process's objects are frozen out of the collector for the fork.

    Parameters
    ----------
    target, args
        What the process runs.

    Returns
    -------
    multiprocessing.process.BaseProcess
        Started.
    """
    process = multiprocessing.get_context("fork").Process(target=target, args=args, daemon=False)
    gc.freeze()
    try:
        process.start()
    finally:
        gc.unfreeze()
    return process
