"""Recover each school → venue route and summarise how much of it is on or across main roads."""

from __future__ import annotations

from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from mapgen.config import Settings
from mapgen.contract import ROUTE_COLUMNS
from mapgen.network import StreetGraph, edges_matrix
from mapgen.reach import Attachment, attach, to_metric

# Bound on the (schools × nodes) predecessor/distance block held in memory at once.
_BLOCK_BYTES = 128 * 2**20
# Angles closer than this (radians) count as the same direction in the crossing test.
_ANGLE_EPS = 1e-6


def routes_summary(
    graph: StreetGraph,
    schools: gpd.GeoDataFrame,
    venues: gpd.GeoDataFrame,
    settings: Settings,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Summarise the fastest route from every school to every venue within the limit.

    The routes are the ones behind ``reachability.csv``: the same attachments
    (:func:`mapgen.reach.attach`) and the same bounded Dijkstra, here with
    predecessors kept. For each route, over its street part (access legs at
    both ends excluded):

    - ``street_m``: metres along streets;
    - ``main_road_m``: metres along edges whose ``highway`` class is in
      ``settings.main_roads``;
    - ``main_road_crossings``: street nodes where the route passes from one
      side of a main road to the other: main-road edges of that node, other
      than the route's own incoming and outgoing edges, lie on both sides of
      the route's turn there (see :func:`crossing_nodes`). A crossing at the
      first or last street node of a route is not counted.

    Parameters
    ----------
    graph
        Street graph of one mode.
    schools, venues
        With ``school_id`` / ``venue_id`` and a ``footprint`` geometry column (WGS-84).
    settings
        Minutes limit, snapping distances and the main-road classes.
    progress
        Called with the number of schools done after each chunk.

    Returns
    -------
    pandas.DataFrame
        :data:`ROUTE_COLUMNS`, one row per (school, venue) pair within ``settings.minutes``.
    """
    n, n_schools, n_venues = graph.n_nodes, len(schools), len(venues)
    origins = attach(graph, to_metric(schools["footprint"], graph.crs), leaving=True, settings=settings)
    targets = attach(graph, to_metric(venues["footprint"], graph.crs), leaving=False, settings=settings)
    matrix = _routing_matrix(graph, origins, n_schools, targets, n_venues)
    edge_of = _edge_lookup(graph)
    main_edge = np.isin(graph.edge_highway, list(settings.main_roads))
    main_adjacency = _main_adjacency(graph, main_edge)
    school_ids, venue_ids = schools["school_id"].to_numpy(), venues["venue_id"].to_numpy()
    parts = []
    chunk = max(1, _BLOCK_BYTES // (12 * matrix.shape[0]))
    for start in range(0, n_schools, chunk):
        ids = np.arange(start, min(start + chunk, n_schools))
        minutes, pred = dijkstra(
            matrix, directed=True, indices=n + ids, limit=settings.minutes, return_predecessors=True
        )
        for row, i in enumerate(ids):
            target_min = minutes[row, n + n_schools :]
            reached = np.flatnonzero(target_min <= settings.minutes)
            if not len(reached):
                continue
            street_pred = np.where(pred[row, :n] < n, pred[row, :n], -9999)  # virtual origin → root
            totals = _tree_totals(graph, street_pred, edge_of, main_edge, main_adjacency)
            last = pred[row, n + n_schools + reached]
            parts.append(
                pd.DataFrame(
                    {
                        "school_id": school_ids[i],
                        "venue_id": venue_ids[reached],
                        "mode": graph.mode,
                        "minutes": np.round(target_min[reached], 2),
                        "street_m": np.round(totals[last, 0], 1),
                        "main_road_m": np.round(totals[last, 1], 1),
                        "main_road_crossings": totals[last, 2].astype(np.int64),
                    }
                )
            )
        if progress:
            progress(len(ids))
    if not parts:
        return pd.DataFrame(columns=ROUTE_COLUMNS)
    return pd.concat(parts, ignore_index=True).sort_values(["school_id", "minutes", "venue_id"], ignore_index=True)


def crossing_nodes(
    node_xy: np.ndarray,
    previous: np.ndarray,
    node: np.ndarray,
    following: np.ndarray,
    main_adjacency: sp.csr_matrix,
) -> np.ndarray:
    """Tell, for route steps ``previous → node → following``, whether the route crosses a main road at ``node``.

    The main-road neighbours of ``node`` other than ``previous`` and
    ``following`` are sorted into the two angular sectors that the incoming
    and outgoing directions cut around ``node``; the route crosses when both
    sectors hold one (e.g. straight over a crossroads of a main road, or over a
    mapped pedestrian crossing that shares a node with the carriageway). A main
    road that only touches one side (a T-junction the route passes by, or the
    road the route turns onto) is no crossing.

    Parameters
    ----------
    node_xy
        Node coordinates in metres (n × 2).
    previous, node, following
        Node indices of each route step (k,).
    main_adjacency
        Symmetric (n × n) CSR matrix, non-zero where a main-road edge joins two nodes.

    Returns
    -------
    numpy.ndarray
        Boolean (k,): the step crosses a main road at ``node``.
    """
    indptr, neighbours = main_adjacency.indptr, main_adjacency.indices
    degree = indptr[node + 1] - indptr[node]
    step = np.repeat(np.arange(len(node)), degree)
    offsets = np.arange(len(step)) - np.repeat(np.cumsum(degree) - degree, degree)
    other = neighbours[np.repeat(indptr[node], degree) + offsets]
    at, prev, follow = node[step], previous[step], following[step]
    keep = (other != prev) & (other != follow)
    step, at, prev, follow, other = step[keep], at[keep], prev[keep], follow[keep], other[keep]

    def angle(toward: np.ndarray) -> np.ndarray:
        d = node_xy[toward] - node_xy[at]
        return np.arctan2(d[:, 1], d[:, 0])

    incoming = angle(prev)
    turn = np.mod(angle(follow) - incoming, 2 * np.pi)
    side = np.mod(angle(other) - incoming, 2 * np.pi)
    clear = (side > _ANGLE_EPS) & (np.abs(side - turn) > _ANGLE_EPS)
    left = np.bincount(step[clear & (side < turn)], minlength=len(node))
    right = np.bincount(step[clear & (side > turn)], minlength=len(node))
    return (left > 0) & (right > 0)


def _routing_matrix(
    graph: StreetGraph, origins: Attachment, n_origins: int, targets: Attachment, n_targets: int
) -> sp.csr_matrix:
    """The street graph with send-only origin and receive-only target nodes, as in :mod:`mapgen.reach`."""
    n = graph.n_nodes
    return edges_matrix(
        np.concatenate([graph.edge_u, n + origins.place, targets.node]),
        np.concatenate([graph.edge_v, origins.node, n + n_origins + targets.place]),
        np.concatenate([graph.edge_minutes, origins.minutes, targets.minutes]),
        n + n_origins + n_targets,
    )


def _edge_lookup(graph: StreetGraph) -> tuple[np.ndarray, np.ndarray]:
    """Sorted ``u * n + v`` keys and the fastest edge of each (the edge the routing matrix keeps)."""
    key = graph.edge_u.astype(np.int64) * graph.n_nodes + graph.edge_v
    order = np.lexsort((graph.edge_minutes, key))
    first = np.ones(len(order), dtype=bool)
    first[1:] = key[order][1:] != key[order][:-1]
    return key[order][first], order[first]


def _main_adjacency(graph: StreetGraph, main_edge: np.ndarray) -> sp.csr_matrix:
    u, v = graph.edge_u[main_edge], graph.edge_v[main_edge]
    ones = np.ones(2 * len(u), dtype=np.int8)
    adjacency = sp.csr_matrix((ones, (np.concatenate([u, v]), np.concatenate([v, u]))), shape=(graph.n_nodes,) * 2)
    adjacency.sum_duplicates()
    return adjacency


def _tree_totals(
    graph: StreetGraph,
    pred: np.ndarray,
    edge_of: tuple[np.ndarray, np.ndarray],
    main_edge: np.ndarray,
    main_adjacency: sp.csr_matrix,
) -> np.ndarray:
    """Street metres, main-road metres and crossings from the root of a shortest-path tree to every node.

    ``pred`` is the predecessor of every street node (negative for roots and
    unreached nodes). Each node carries the values of the step from its
    predecessor; the sums along the tree come from pointer jumping (log-depth
    vectorised passes) instead of walking every route.
    """
    n = graph.n_nodes
    values = np.zeros((n, 3))
    child = np.flatnonzero(pred >= 0)
    parent = pred[child]
    keys, edges = edge_of
    edge = edges[np.searchsorted(keys, parent.astype(np.int64) * n + child)]
    values[child, 0] = graph.edge_length_m[edge]
    values[child, 1] = np.where(main_edge[edge], graph.edge_length_m[edge], 0.0)
    # a crossing at `parent` on the way grandparent → parent → child
    step = np.flatnonzero((pred[parent] >= 0) & (np.diff(main_adjacency.indptr)[parent] > 0))
    crossing = crossing_nodes(graph.node_xy, pred[parent[step]], parent[step], child[step], main_adjacency)
    values[child[step], 2] = crossing
    ancestor = pred.copy()
    while (live := np.flatnonzero(ancestor >= 0)).size:
        values[live] += values[ancestor[live]]
        ancestor[live] = ancestor[ancestor[live]]
    return values
