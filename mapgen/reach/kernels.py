"""Compiled kernels (numba) of the one-origin search: a bounded multi-start Dijkstra and the chain expansion."""

from __future__ import annotations

import numpy as np
from numba import njit

# The kernels repeat the floating-point operations of the array code they replaced, in the same order,
# so segment ends and marked cells are bit for bit what numpy gave, and a one-start search gives
# scipy's distances to the last bit.


@njit(cache=True, nogil=True)
def grown(array: np.ndarray) -> np.ndarray:
    """`array` copied into one twice as long (the tail uninitialised)."""
    out = np.empty(2 * len(array), dtype=array.dtype)
    out[: len(array)] = array
    return out


@njit(cache=True, nogil=True)
def _sift_up(keys: np.ndarray, items: np.ndarray, slot: np.ndarray, size: int, v: int, key: float) -> int:
    """Give `v` the smaller `key` in the heap (entering as a new leaf when absent); the new heap size."""
    i = slot[v]
    if i == -1:  # not yet in the heap: a new leaf (the caller made room)
        i = size
        size += 1
    while i > 0:
        up = (i - 1) >> 1
        if keys[up] <= key:
            break
        keys[i], items[i] = keys[up], items[up]
        slot[items[i]] = i
        i = up
    keys[i], items[i] = key, v
    slot[v] = i
    return size


@njit(cache=True, nogil=True)
def bounded_search(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    sources: np.ndarray,
    offsets: np.ndarray,
    bound: float,
    dist: np.ndarray,
    slot: np.ndarray,
) -> np.ndarray:
    """Exact Dijkstra from `sources`, each starting at its offset, over a CSR graph, settling only nodes within `bound`.

    An indexed binary heap (decrease-key): work and memory grow with the nodes reached, not with
    the graph. One search from several starts costs what one start costs; from one start at offset 0
    the distances are scipy's to the last bit.

    Parameters
    ----------
    indptr, indices, data
        The graph's CSR arrays (edge weights positive).
    sources, offsets
        Start nodes and the distance each starts at (a start listed twice keeps its smaller offset).
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
    keys = np.empty(max(256, 2 * len(sources)))
    items = np.empty(len(keys), dtype=np.int64)
    settled = np.empty(256, dtype=np.int64)
    done = 0
    size = 0
    for s in range(len(sources)):
        v, nd = sources[s], offsets[s]
        if nd < dist[v] and nd <= bound:
            dist[v] = nd
            size = _sift_up(keys, items, slot, size, v, nd)
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
            settled = grown(settled)
        settled[done] = u
        done += 1
        for k in range(indptr[u], indptr[u + 1]):
            v = indices[k]
            nd = d + data[k]
            if nd < dist[v] and nd <= bound:
                dist[v] = nd
                if slot[v] == -1 and size == len(keys):
                    keys, items = grown(keys), grown(items)
                size = _sift_up(keys, items, slot, size, v, nd)
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
    with the graph. One search starts from every start kept node at once, each at its offset, so the
    minutes are scipy's multi-source minutes to rounding (offsets are added first, not last); each
    node is reported once, by its last fastest candidate.

    Returns
    -------
    tuple of numpy.ndarray
        Reached graph nodes and their minutes (at most `limit`).
    """
    start = kept_best  # the start offsets
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
    reached = bounded_search(indptr, indices, data, sources, offsets, limit, kept_dist, kept_slot)
    reached_minutes = kept_dist[reached].copy()
    kept_dist[reached] = np.inf
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
def walk_chains(
    starts: np.ndarray, passing: np.ndarray, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Follow every edge out of every start node through pass-through nodes to the next other node.

    Parameters
    ----------
    starts
        Kept nodes, in order; every edge out of each starts one chain.
    passing
        Mask of pass-through nodes (two neighbours, traffic through in one or both directions).
    indptr, indices, data
        The graph's CSR arrays.

    Returns
    -------
    tuple of numpy.ndarray
        Per chain its start node, end node and minutes; the offsets (chains + 1) of its inner nodes
        in the inner node array, and the minutes from the chain's start to each inner node, in order.
    """
    n_chains = 0
    for s in starts:
        n_chains += indptr[s + 1] - indptr[s]
    chain_start = np.empty(n_chains, dtype=np.int64)
    chain_end = np.empty(n_chains, dtype=np.int64)
    chain_minutes = np.empty(n_chains)
    inner_ptr = np.zeros(n_chains + 1, dtype=np.int64)
    inner = np.empty(1024, dtype=np.int64)
    inner_cum = np.empty(1024)
    c = n_inner = 0
    for s in starts:
        for k in range(indptr[s], indptr[s + 1]):
            prev, node, cum = s, indices[k], data[k]
            while passing[node]:
                if n_inner == len(inner):
                    inner, inner_cum = grown(inner), grown(inner_cum)
                inner[n_inner], inner_cum[n_inner] = node, cum
                n_inner += 1
                a, b = indptr[node], indptr[node + 1]
                step = a if b - a == 1 or indices[a] != prev else a + 1
                prev, node, cum = node, indices[step], cum + data[step]
            chain_start[c], chain_end[c], chain_minutes[c] = s, node, cum
            c += 1
            inner_ptr[c] = n_inner
    return chain_start, chain_end, chain_minutes, inner_ptr, inner[:n_inner], inner_cum[:n_inner]
