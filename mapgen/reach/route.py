"""Exact bounded Dijkstra from origins: blocks of nearby origins, or one origin on the contracted graph."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from mapgen.network import StreetGraph, edges_matrix
from mapgen.reach.chains import chains
from mapgen.reach.kernels import chain_search
from mapgen.reach.nodegrid import nodes_in_boxes
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
        _, nodes = nodes_in_boxes(graph, np.array([west, south, east, north]))
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
    are exact; the search costs what a simplified graph costs. The search and
    the walk are one compiled kernel (:func:`mapgen.reach.kernels.chain_search`).

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
    return chain_search(
        ch.matrix.indptr,
        ch.matrix.indices,
        ch.matrix.data,
        ch.kept,
        ch.kept_nodes,
        ch.entry_ptr,
        ch.entry_node,
        ch.entry_cum,
        ch.entry_chain,
        ch.chain_entries,
        ch.chain_end,
        ch.chain_minutes,
        ch.node_entry_ptr,
        ch.node_entry,
        ch.best,
        ch.kept_best,
        ch.kept_dist,
        ch.kept_slot,
        np.asarray(link_nodes, dtype=np.int64),
        np.asarray(link_minutes, dtype=float),
        float(limit),
    )
