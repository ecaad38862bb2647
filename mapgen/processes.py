"""Whether this process may fork worker processes (reach parts, the bike mode, PDF sheets), and forking them."""

from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.pool


def may_fork() -> bool:
    """Whether this process may fork workers: the platform forks, and it is not a daemonic process.

    A daemonic process (a Dask worker building a region's area) may not have children of its own.
    """
    return "fork" in multiprocessing.get_all_start_methods() and not multiprocessing.current_process().daemon


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
