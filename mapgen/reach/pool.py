"""Parts of nearby origins and the fork pool that routes them on several cores."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

import numpy as np

from mapgen.config import Settings
from mapgen.network import StreetGraph
from mapgen.processes import may_fork
from mapgen.reach.snap import Attachment

T = TypeVar("T")


def origin_parts(graph: StreetGraph, origins: Attachment, ids: np.ndarray, size: int = 64) -> list[np.ndarray]:
    """Split origin indices into parts of about `size` neighbours (sorted along a Z-order curve of 1 km cells)."""
    first = np.full(int(origins.place.max(initial=-1)) + 1, -1)
    first[origins.place[::-1]] = origins.node[::-1]
    if not len(ids):
        return []
    cell = np.floor(graph.node_xy[first[ids]] / 1000.0).astype(np.int64)
    cell -= cell.min(axis=0)
    key = np.zeros(len(ids), dtype=np.int64)
    for bit in range(16):  # interleave bits: neighbours in space stay neighbours in the list
        key |= ((cell[:, 0] >> bit) & 1) << (2 * bit) | ((cell[:, 1] >> bit) & 1) << (2 * bit + 1)
    ordered = ids[np.argsort(key, kind="stable")]
    return np.array_split(ordered, max(1, -(-len(ids) // size)))


_TASK: list[Callable[[np.ndarray], object]] = []


def _run_task(ids: np.ndarray) -> object:
    return _TASK[-1](ids)


def run_parts(func: Callable[[np.ndarray], T], parts: list[np.ndarray], workers: int) -> Iterator[tuple[np.ndarray, T]]:
    """Apply `func` to every part, in `workers` forked processes when more than one (results in order).

    The processes are forked, so `func` may be a closure over the graph: nothing
    but the parts and the results is pickled.
    """
    if workers <= 1 or len(parts) <= 1:
        for part in parts:
            yield part, func(part)
        return
    _TASK.append(func)
    try:
        with ProcessPoolExecutor(min(workers, len(parts)), mp_context=multiprocessing.get_context("fork")) as pool:
            yield from zip(parts, pool.map(_run_task, parts), strict=True)
    finally:
        _TASK.pop()


def worker_count(settings: Settings) -> int:
    """Number of processes: ``settings.reach_workers`` (0: one per CPU core); 1 where this process may not fork."""
    if not may_fork():
        return 1
    return settings.reach_workers or os.cpu_count() or 1
