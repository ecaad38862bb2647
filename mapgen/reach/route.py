"""Exact bounded Dijkstra from origins: blocks of nearby origins, or one origin on the contracted graph."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra

from mapgen.network import StreetGraph, edges_matrix
from mapgen.reach.chains import chains
from mapgen.reach.snap import Attachment

# Bound on the (origins × nodes) distance block held in memory at once.
_BLOCK_BYTES = 256 * 2**20


@dataclass(frozen=True)
class ReachBlock:
    """Exact minutes from a group of nearby origins to the nodes of their local subgraph.

    Row ``k`` holds the minutes from origin ``ids[k]`` to graph nodes ``nodes``
    (``inf`` where farther than the search limit).
    """

    ids: np.ndarray  # (c,) origin indices
    nodes: np.ndarray  # (s,) graph node indices of the local subgraph, sorted
    minutes: np.ndarray  # (c, s)

    def node_minutes(self, row: int, n_nodes: int) -> np.ndarray:
        """Minutes from the origin of `row` to every graph node (dense, ``inf`` where not reached)."""
        full = np.full(n_nodes, np.inf)
        full[self.nodes] = self.minutes[row]
        return full

    def reached(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """Graph node indices reached from the origin of `row`, and their minutes."""
        hit = np.isfinite(self.minutes[row])
        return self.nodes[hit], self.minutes[row, hit]

    def target_minutes(self, targets: Attachment, n_targets: int) -> np.ndarray:
        """Minutes from every origin of the block to every target (``inf`` where beyond the limit).

        Targets only receive: their minutes are the best reached link node plus its access leg.
        """
        local = np.searchsorted(self.nodes, targets.node)
        inside = local < len(self.nodes)
        inside[inside] = self.nodes[local[inside]] == targets.node[inside]
        out = np.full((len(self.ids), n_targets), np.inf)
        if inside.any():
            via = self.minutes[:, local[inside]] + targets.minutes[inside]
            order = np.argsort(targets.place[inside], kind="stable")
            place = targets.place[inside][order]
            first = np.flatnonzero(np.r_[True, place[1:] != place[:-1]])
            out[:, place[first]] = np.minimum.reduceat(via[:, order], first, axis=1)
        return out


def reach_blocks(
    graph: StreetGraph,
    origins: Attachment,
    n_origins: int,
    limit: float,
    ids: np.ndarray | None = None,
    reverse: bool = False,
) -> Iterator[ReachBlock]:
    """Run exact bounded Dijkstra from every origin, on local subgraphs, in memory-bounded blocks.

    Origins are virtual nodes joined to the graph by their links (see :func:`attach`),
    so a campus with several entrances leaves from the best one. Origins are
    grouped on a grid of the search radius; each group is routed on the part of
    the graph within one radius of its links (``limit`` minutes at the mode's
    speed, which no path within the limit can leave, so results are exact).

    Parameters
    ----------
    graph
        The street graph.
    origins
        Attachment of the origins (``leaving=True``).
    n_origins
        Number of origin places.
    limit
        Search bound in minutes.
    ids
        Route only these origins (default: all).
    reverse
        Route on the transposed graph: minutes *to* each origin from every node
        ("which schools reach this venue"); attach the origins with ``leaving=False``.

    Yields
    ------
    ReachBlock
        Origins without a link are skipped.
    """
    radius = limit * graph.speed_kmh * 1000.0 / 60.0 + 1.0
    streets = graph.matrix.T.tocsr() if reverse else graph.matrix
    by_place = np.argsort(origins.place, kind="stable")
    link_start = np.searchsorted(origins.place[by_place], np.arange(n_origins + 1))
    xy = graph.node_xy
    link_xy = xy[origins.node]
    lo = np.full((n_origins, 2), np.inf)
    hi = np.full((n_origins, 2), -np.inf)
    np.minimum.at(lo, origins.place, link_xy)
    np.maximum.at(hi, origins.place, link_xy)
    linked = np.flatnonzero(np.isfinite(lo[:, 0]))
    if ids is not None:
        linked = np.intersect1d(linked, ids)
    cell = np.floor(lo[linked] / max(radius, 250.0)).astype(np.int64)
    order = np.lexsort((cell[:, 1], cell[:, 0]))
    groups = np.split(linked[order], np.flatnonzero(np.any(np.diff(cell[order], axis=0) != 0, axis=1)) + 1)
    for group in groups:
        if not len(group):
            continue
        west, south = lo[group].min(axis=0) - radius
        east, north = hi[group].max(axis=0) + radius
        nodes = np.sort(graph.node_tree.query(shapely.box(west, south, east, north)))
        k = len(group)
        mine = np.concatenate([by_place[link_start[i] : link_start[i + 1]] for i in group])
        local = np.searchsorted(nodes, origins.node[mine])
        row = np.repeat(np.arange(k), link_start[group + 1] - link_start[group])
        # local graph: the streets in reach, then one row per origin (origins only send)
        sub = sp.bmat(
            [
                [streets[nodes][:, nodes], sp.csr_matrix((len(nodes), k))],
                [
                    edges_matrix(row, local, origins.minutes[mine], max(k, len(nodes)))[:k, : len(nodes)],
                    sp.csr_matrix((k, k)),
                ],
            ],
            format="csr",
        )
        chunk = max(1, _BLOCK_BYTES // (8 * sub.shape[0]))
        for start in range(0, k, chunk):
            rows = np.arange(start, min(start + chunk, k))
            minutes = dijkstra(sub, directed=True, indices=len(nodes) + rows, limit=limit)
            yield ReachBlock(ids=group[rows], nodes=nodes, minutes=minutes[:, : len(nodes)])


def iter_shortest_minutes(
    graph: StreetGraph,
    origins: Attachment,
    n_origins: int,
    targets: Attachment,
    n_targets: int,
    limit: float,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Run exact Dijkstra from every origin, bounded by `limit` minutes, in memory-bounded chunks.

    Dense view of :func:`reach_blocks`: origins only send, targets only
    receive, so a large park can never act as a shortcut between its entrances.

    Parameters
    ----------
    graph
        The street graph.
    origins, targets
        Attachments of origins (``leaving=True``) and targets (``leaving=False``).
    n_origins, n_targets
        Number of origin and target places.
    limit
        Search bound in minutes; farther nodes get ``inf``.

    Yields
    ------
    tuple of numpy.ndarray
        (origin indices of the chunk, node minutes (c × n), target minutes (c × n_targets));
        origins without a link are left out.
    """
    for block in reach_blocks(graph, origins, n_origins, limit):
        dense = np.full((len(block.ids), graph.n_nodes), np.inf)
        dense[:, block.nodes] = block.minutes
        yield block.ids, dense, block.target_minutes(targets, n_targets)


def nearby_minutes(
    graph: StreetGraph, link_nodes: np.ndarray, link_minutes: np.ndarray, limit: float
) -> tuple[np.ndarray, np.ndarray]:
    """Exact minutes from one origin, joined at `link_nodes` with legs `link_minutes`, to the nodes within `limit`.

    Most street nodes only pass a way on (nine in ten in an unsimplified OSM
    graph): the search runs on the graph of the other nodes, each chain of
    pass-through nodes one edge (:class:`Chains`), and the chains are then
    walked to give every node its minutes. Paths are the same, so the minutes
    are exact; the search costs what a simplified graph costs.

    Parameters
    ----------
    graph
        The street graph.
    link_nodes, link_minutes
        Graph nodes the origin is joined to and the minutes of each access leg.
    limit
        Search bound in minutes.

    Returns
    -------
    tuple of numpy.ndarray
        Reached graph node indices (each once, in no particular order) and their minutes (at most `limit`).
    """
    ch = chains(graph)
    start: dict[int, float] = {}
    near_nodes, near_minutes = [link_nodes], [link_minutes]
    for node, leg in zip(link_nodes.tolist(), link_minutes.tolist(), strict=True):
        if ch.kept[node] >= 0:
            start[int(ch.kept[node])] = min(start.get(int(ch.kept[node]), np.inf), leg)
            continue
        for e in ch.node_entry[ch.node_entry_ptr[node] : ch.node_entry_ptr[node + 1]].tolist():
            c = int(ch.entry_chain[e])
            stop = int(ch.chain_entries[c + 1])
            end = int(ch.chain_end[c])
            start[end] = min(start.get(end, np.inf), leg + float(ch.chain_minutes[c] - ch.entry_cum[e]))
            near_nodes.append(ch.entry_node[e + 1 : stop])  # further along the origin's own chain
            near_minutes.append(leg + ch.entry_cum[e + 1 : stop] - ch.entry_cum[e])
    start = {k: m for k, m in start.items() if m <= limit}
    kept_minutes = np.full(len(ch.kept_nodes), np.inf)
    if start:
        sources = np.fromiter(start, dtype=np.intp, count=len(start))
        offsets = np.fromiter(start.values(), dtype=float, count=len(start))
        found = dijkstra(ch.matrix, directed=True, indices=sources, limit=limit - float(offsets.min()))
        kept_minutes = np.min(found + offsets[:, None], axis=0)
    reached = np.flatnonzero(kept_minutes <= limit)
    first = ch.entry_ptr[reached]
    count = ch.entry_ptr[reached + 1] - first
    ends = np.cumsum(count)
    entry = np.arange(ends[-1] if len(ends) else 0) + np.repeat(first - (ends - count), count)
    along = np.repeat(kept_minutes[reached], count) + ch.entry_cum[entry]
    nodes = np.concatenate([ch.kept_nodes[reached], ch.entry_node[entry], *near_nodes])
    minutes = np.concatenate([kept_minutes[reached], along, *near_minutes])
    # an inner node lies on the chains of both directions: keep the faster, once (scratch: O(reached), not O(graph))
    best, owner = ch.best, ch.owner
    np.minimum.at(best, nodes, minutes)
    row = np.arange(len(nodes))
    winner = row[(best[nodes] == minutes) & (minutes <= limit)]
    owner[nodes[winner]] = winner
    first = winner[owner[nodes[winner]] == winner]
    best[nodes] = np.inf
    return nodes[first], minutes[first]
