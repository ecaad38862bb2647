"""Whether this process may fork worker processes (reach parts, the bike mode, PDF sheets)."""

from __future__ import annotations

import multiprocessing


def may_fork() -> bool:
    """Whether this process may fork workers: the platform forks, and it is not a daemonic process.

    A daemonic process (a Dask worker building a region's area) may not have children of its own.
    """
    return "fork" in multiprocessing.get_all_start_methods() and not multiprocessing.current_process().daemon
