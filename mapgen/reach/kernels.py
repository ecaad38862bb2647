"""Compiled kernels (numba) of the one-origin isochrone path: bounded search, chain expansion, segments, raster."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# The kernels repeat the floating-point operations of the array code they replaced, in the same order,
# so minutes, segment ends and marked cells are bit for bit what numpy and scipy gave.


@njit(cache=True, nogil=True)
def _grown(array: np.ndarray) -> np.ndarray:
    """`array` copied into one twice as long (the tail uninitialised)."""
    out = np.empty(2 * len(array), dtype=array.dtype)
    out[: len(array)] = array
    return out


@njit(cache=True, nogil=True)
def bounded_search(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    source: int,
    bound: float,
    dist: np.ndarray,
    slot: np.ndarray,
) -> np.ndarray:
    """Exact Dijkstra from `source` over a CSR graph, settling only nodes within `bound`.

    An indexed binary heap (decrease-key): work and memory grow with the nodes reached, not with
    the graph.

    Parameters
    ----------
    indptr, indices, data
        The graph's CSR arrays (edge weights positive).
    source
        Start node.
    bound
        Largest distance searched.
    dist
        Scratch distances, one per node, all ``inf`` on entry; on return it holds the distances of
        the returned nodes (the caller resets them to ``inf``) and is ``inf`` elsewhere (every node
        given a distance enters the heap, so it is settled).
    slot
        Scratch heap positions, one per node, all -1 on entry and on return.

    Returns
    -------
    numpy.ndarray
        The settled nodes, in the order settled (distances at most `bound`).
    """
    keys = np.empty(256)
    items = np.empty(256, dtype=np.int64)
    settled = np.empty(256, dtype=np.int64)
    done = 0
    size = 1
    keys[0], items[0] = 0.0, source
    slot[source] = 0
    dist[source] = 0.0
    while size:
        u, d = items[0], keys[0]
        slot[u] = -2  # settled
        size -= 1
        if size:  # the last entry sifts down from the root
            key, item = keys[size], items[size]
            i = 0
            while True:
                child = 2 * i + 1
                if child >= size:
                    break
                if child + 1 < size and keys[child + 1] < keys[child]:
                    child += 1
                if keys[child] >= key:
                    break
                keys[i], items[i] = keys[child], items[child]
                slot[items[i]] = i
                i = child
            keys[i], items[i] = key, item
            slot[item] = i
        if done == len(settled):
            settled = _grown(settled)
        settled[done] = u
        done += 1
        for k in range(indptr[u], indptr[u + 1]):
            v = indices[k]
            nd = d + data[k]
            if nd < dist[v] and nd <= bound:
                dist[v] = nd
                i = slot[v]
                if i == -1:  # not yet in the heap: a new leaf
                    if size == len(keys):
                        keys, items = _grown(keys), _grown(items)
                    i = size
                    size += 1
                while i > 0:  # sift up
                    up = (i - 1) >> 1
                    if keys[up] <= nd:
                        break
                    keys[i], items[i] = keys[up], items[up]
                    slot[items[i]] = i
                    i = up
                keys[i], items[i] = nd, v
                slot[v] = i
    out = settled[:done]
    for u in out:
        slot[u] = -1
    return out


@njit(cache=True, nogil=True)
def chain_search(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    kept: np.ndarray,
    kept_nodes: np.ndarray,
    entry_ptr: np.ndarray,
    entry_node: np.ndarray,
    entry_cum: np.ndarray,
    entry_chain: np.ndarray,
    chain_entries: np.ndarray,
    chain_end: np.ndarray,
    chain_minutes: np.ndarray,
    node_entry_ptr: np.ndarray,
    node_entry: np.ndarray,
    best: np.ndarray,
    kept_best: np.ndarray,
    kept_dist: np.ndarray,
    kept_slot: np.ndarray,
    link_nodes: np.ndarray,
    link_minutes: np.ndarray,
    limit: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact minutes from one origin to the graph nodes within `limit`, searched on the chain graph.

    The arrays are those of :class:`mapgen.reach.chains.Chains` (``indptr``, ``indices``, ``data``:
    its matrix); ``best``, ``kept_best``, ``kept_dist`` and ``kept_slot`` are its scratch, per graph
    node and per kept node (all ``inf``, or -1, on entry and on return), so the work grows with the nodes reached, not
    with the graph. Every start kept node
    is searched on its own and its offset added after, as scipy's multi-source search does, so the
    minutes are the same to the last bit; each node is reported once, by its last fastest candidate.

    Returns
    -------
    tuple of numpy.ndarray
        Reached graph nodes and their minutes (at most `limit`).
    """
    start = kept_best  # first the start offsets, then the kept nodes' minutes
    n_order = len(link_nodes)
    for node in link_nodes:
        n_order += node_entry_ptr[node + 1] - node_entry_ptr[node]
    order = np.empty(n_order, dtype=np.int64)  # start kept nodes in the order first seen
    n_start = 0
    near_total = 0
    for i in range(len(link_nodes)):
        node, leg = link_nodes[i], link_minutes[i]
        if kept[node] >= 0:
            s = kept[node]
            if start[s] == np.inf:
                order[n_start] = s
                n_start += 1
            start[s] = min(start[s], leg)
            continue
        for j in range(node_entry_ptr[node], node_entry_ptr[node + 1]):
            e = node_entry[j]
            c = entry_chain[e]
            end = chain_end[c]
            if start[end] == np.inf:
                order[n_start] = end
                n_start += 1
            start[end] = min(start[end], leg + (chain_minutes[c] - entry_cum[e]))
            near_total += chain_entries[c + 1] - e - 1
    sources = order[:n_start]
    offsets = start[sources]
    start[sources] = np.inf
    live = offsets <= limit
    sources, offsets = sources[live], offsets[live]
    kept_minutes = kept_best
    reached = np.empty(0, dtype=np.int64)
    reached_minutes = np.empty(0)
    if len(sources):
        bound = limit - offsets.min()
        found = [bounded_search(indptr, indices, data, sources[0], bound, kept_dist, kept_slot)]
        for i in range(len(sources)):
            if i:
                found.append(bounded_search(indptr, indices, data, sources[i], bound, kept_dist, kept_slot))
            for u in found[i]:
                kept_minutes[u] = min(kept_minutes[u], kept_dist[u] + offsets[i])
                kept_dist[u] = np.inf
        n_found = 0
        for settled in found:
            n_found += len(settled)
        every = np.empty(n_found, dtype=np.int64)
        n_found = 0
        for settled in found:
            every[n_found : n_found + len(settled)] = settled
            n_found += len(settled)
        candidates = np.unique(every)  # sorted, as the kept index order of the array code
        reached = candidates[kept_minutes[candidates] <= limit]
        reached_minutes = kept_minutes[reached].copy()
        kept_minutes[candidates] = np.inf
    n_along = 0
    for r in reached:
        n_along += entry_ptr[r + 1] - entry_ptr[r]
    total = len(reached) + n_along + len(link_nodes) + near_total
    nodes = np.empty(total, dtype=np.int64)
    minutes = np.empty(total)
    # candidates in the order of the array code: kept nodes, their chains, the links, the origin's own chains
    k = 0
    for i in range(len(reached)):
        nodes[k], minutes[k] = kept_nodes[reached[i]], reached_minutes[i]
        k += 1
    for i in range(len(reached)):
        for e in range(entry_ptr[reached[i]], entry_ptr[reached[i] + 1]):
            nodes[k], minutes[k] = entry_node[e], reached_minutes[i] + entry_cum[e]
            k += 1
    for i in range(len(link_nodes)):
        nodes[k], minutes[k] = link_nodes[i], link_minutes[i]
        k += 1
    for i in range(len(link_nodes)):
        node, leg = link_nodes[i], link_minutes[i]
        if kept[node] >= 0:
            continue
        for j in range(node_entry_ptr[node], node_entry_ptr[node + 1]):
            e = node_entry[j]
            for f in range(e + 1, chain_entries[entry_chain[e] + 1]):
                nodes[k], minutes[k] = entry_node[f], leg + entry_cum[f] - entry_cum[e]
                k += 1
    # an inner node lies on the chains of both directions: keep the faster, once
    for i in range(total):
        best[nodes[i]] = min(best[nodes[i]], minutes[i])
    keep = np.zeros(total, dtype=np.bool_)
    for i in range(total - 1, -1, -1):
        node = nodes[i]
        if minutes[i] <= limit and minutes[i] == best[node]:
            keep[i] = True
            best[node] = -np.inf  # taken: earlier candidates of this node are dropped
    for i in range(total):
        best[nodes[i]] = np.inf
    return nodes[keep], minutes[keep]


@njit(cache=True, nogil=True)
def segment_ends(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    node_xy: np.ndarray,
    nodes: np.ndarray,
    minutes: np.ndarray,
    limit: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Start and end points of the street segments travelled within `limit` (frontier edges cut).

    Every edge out of a node reached in under `limit` minutes, from its tail to the point where
    time runs out (or its head), over the graph's CSR arrays and node coordinates.
    """
    count = 0
    for i in range(len(nodes)):
        if minutes[i] < limit:
            count += indptr[nodes[i] + 1] - indptr[nodes[i]]
    a = np.empty((count, 2))
    b = np.empty((count, 2))
    k = 0
    for i in range(len(nodes)):
        m = minutes[i]
        if not m < limit:
            continue
        tail = nodes[i]
        ax, ay = node_xy[tail, 0], node_xy[tail, 1]
        for j in range(indptr[tail], indptr[tail + 1]):
            frac = min((limit - m) / data[j], 1.0)
            head = indices[j]
            a[k, 0], a[k, 1] = ax, ay
            b[k, 0] = ax + frac * (node_xy[head, 0] - ax)
            b[k, 1] = ay + frac * (node_xy[head, 1] - ay)
            k += 1
    return a, b


@njit(cache=True, nogil=True)
def corners(xy: np.ndarray) -> np.ndarray:
    """Lower-left and upper-right corners, (2, 2), of the points `xy` (n, 2), n at least one."""
    out = np.empty((2, 2))
    out[0, 0], out[0, 1] = xy[0, 0], xy[0, 1]
    out[1, 0], out[1, 1] = xy[0, 0], xy[0, 1]
    for i in range(1, len(xy)):
        out[0, 0] = min(out[0, 0], xy[i, 0])
        out[0, 1] = min(out[0, 1], xy[i, 1])
        out[1, 0] = max(out[1, 0], xy[i, 0])
        out[1, 1] = max(out[1, 1], xy[i, 1])
    return out


@njit(cache=True, nogil=True)
def mark_segments(canvas: np.ndarray, a: np.ndarray, b: np.ndarray, x0: float, y0: float, cell: float) -> None:
    """Mark, in place, the cells of `canvas` under each segment's end and under points back along it.

    Points are taken every cell or less from the end back towards (not onto) the start, whose cell
    is another segment's end or one cell from it; (`x0`, `y0`) is the corner of pixel (0, 0).
    """
    for i in range(len(a)):
        ex, ey = (b[i, 0] - x0) / cell, (b[i, 1] - y0) / cell
        sx, sy = (b[i, 0] - a[i, 0]) / cell, (b[i, 1] - a[i, 1]) / cell
        canvas[int(ey + 0.5), int(ex + 0.5)] = 1
        steps = math.ceil(max(abs(sx), abs(sy)))
        for k in range(1, steps):
            t = k / steps
            canvas[int(ey - t * sy + 0.5), int(ex - t * sx + 0.5)] = 1
