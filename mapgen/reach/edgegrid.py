"""Street edges binned on a square grid, and the nearest edges of points found on it (a compiled kernel)."""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np
from numba import njit

from mapgen.network import StreetGraph
from mapgen.reach.kernels import grown
from mapgen.reach.memo import per_graph
from mapgen.reach.nodegrid import BIN_M, listed_in_boxes


@dataclass(frozen=True)
class EdgeGrid:
    """The edges of a street graph listed under every grid bin their bounding box overlaps (rows from the lower left)."""

    corner: np.ndarray  # (2,) lower-left corner of bin (0, 0), metric CRS
    shape: tuple[int, int]  # bins across (x) and up (y)
    bin_ptr: np.ndarray  # (nx * ny + 1,) edges of bin (i, j) are edge[bin_ptr[j * nx + i] : bin_ptr[j * nx + i + 1]]
    edge: np.ndarray  # edge indices, by bin
    segment: np.ndarray  # (len(edge), 4) tail x, y and head x, y of each listed edge (read in turn, not from the nodes)


_GRIDS: dict[int, tuple[weakref.ref, EdgeGrid]] = {}


def edge_grid(graph: StreetGraph) -> EdgeGrid:
    """The :class:`EdgeGrid` of `graph`, built on first use and kept while the graph lives."""
    return per_graph(_GRIDS, graph, _build_grid)


def _build_grid(graph: StreetGraph) -> EdgeGrid:
    """Bin the edges of `graph` (see :class:`EdgeGrid`)."""
    xy = graph.node_xy
    corner = xy.min(axis=0) if len(xy) else np.zeros(2)
    n_bins = ((xy.max(axis=0) - corner) // BIN_M).astype(np.int64) + 1 if len(xy) else np.ones(2, dtype=np.int64)
    a, b = xy[graph.edge_u], xy[graph.edge_v]
    first = ((np.minimum(a, b) - corner) // BIN_M).astype(np.int64)
    span = ((np.maximum(a, b) - corner) // BIN_M).astype(np.int64) - first + 1  # bins across and up, per edge
    per_edge = span[:, 0] * span[:, 1]
    edge = np.repeat(np.arange(len(a)), per_edge)
    k = np.arange(len(edge)) - np.repeat(np.cumsum(per_edge) - per_edge, per_edge)  # the edge's k-th bin
    i = first[edge, 0] + k % span[edge, 0]
    j = first[edge, 1] + k // span[edge, 0]
    key = j * n_bins[0] + i
    order = np.argsort(key, kind="stable")
    bin_ptr = np.searchsorted(key[order], np.arange(n_bins[0] * n_bins[1] + 1))
    listed = edge[order]
    return EdgeGrid(corner, (int(n_bins[0]), int(n_bins[1])), bin_ptr, listed, np.hstack([a[listed], b[listed]]))


def nearest_edges(graph: StreetGraph, xy: np.ndarray, max_distance: float) -> tuple[np.ndarray, ...]:
    """Every edge nearest to each point within `max_distance` (ties all kept), as GEOS measures point-segment distance.

    Parameters
    ----------
    graph
        The street graph.
    xy
        (k, 2) points in the graph's metric CRS.
    max_distance
        Points farther than this from every edge get no match.

    Returns
    -------
    tuple of numpy.ndarray
        (point index, edge index, distance, distance along the edge from its tail to the nearest point),
        one row per match, by point.
    """
    grid = edge_grid(graph)
    return _nearest_edges(
        np.ascontiguousarray(xy, dtype=float),
        grid.segment,
        grid.corner,
        BIN_M,
        grid.shape[0],
        grid.shape[1],
        grid.bin_ptr,
        grid.edge,
        float(max_distance),
    )


def edges_near_boxes(graph: StreetGraph, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every edge whose bounding box may meet each box: (box index, edge, its segment), by box and edge, each once.

    The edges listed under the grid bins a box overlaps: every edge with a point inside the box
    is among them (and some that pass near it).

    Parameters
    ----------
    graph
        The street graph.
    boxes
        (k, 4) west, south, east, north in the graph's metric CRS.

    Returns
    -------
    tuple of numpy.ndarray
        Box index, edge index and the (tail x, y, head x, y) segment of each.
    """
    grid = edge_grid(graph)
    box, position = listed_in_boxes(grid.corner, grid.shape, grid.bin_ptr, boxes)
    _, first = np.unique(box * len(graph.edge_u) + grid.edge[position], return_index=True)
    position = position[first]
    return box[first], grid.edge[position], grid.segment[position]


@njit(cache=True, nogil=True)
def _nearest_edges(
    xy: np.ndarray,
    segment: np.ndarray,
    corner: np.ndarray,
    bin_m: float,
    n_bins_x: int,
    n_bins_y: int,
    bin_ptr: np.ndarray,
    bin_edge: np.ndarray,
    max_distance: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Kernel of :func:`nearest_edges`: square rings of bins around each point, widened until none can be nearer.

    The distance is GEOS's point-to-segment distance, term for term, so ties (a point on a node, an
    edge and its reverse) are the ties shapely's ``query_nearest(all_matches=True)`` finds.
    """
    n = len(xy)
    place = np.empty(4 * n + 16, dtype=np.int64)
    edge = np.empty(4 * n + 16, dtype=np.int64)
    dist = np.empty(4 * n + 16, dtype=np.float64)
    along = np.empty(4 * n + 16, dtype=np.float64)
    ties = np.empty(64, dtype=np.int64)  # edges at the best distance so far (a node has far fewer)
    tie_along = np.empty(64, dtype=np.float64)
    found = 0
    for p in range(n):
        px, py = xy[p, 0], xy[p, 1]
        ci = int(math.floor((px - corner[0]) / bin_m))
        cj = int(math.floor((py - corner[1]) / bin_m))
        best = math.inf
        n_ties = 0
        ring = 0
        while True:
            for j in range(max(cj - ring, 0), min(cj + ring, n_bins_y - 1) + 1):
                # the ring's first and last rows whole, the rows between only at its two ends
                step = 1 if j == cj - ring or j == cj + ring else 2 * ring
                i = ci - ring
                while i <= ci + ring:
                    if 0 <= i < n_bins_x:
                        b = j * n_bins_x + i
                        for k in range(bin_ptr[b], bin_ptr[b + 1]):
                            e = bin_edge[k]
                            d, r = _point_segment(px, py, segment[k, 0], segment[k, 1], segment[k, 2], segment[k, 3])
                            if d < best:
                                best = d
                                n_ties = 0
                            if d == best and n_ties < len(ties):
                                seen = False
                                for t in range(n_ties):
                                    seen |= ties[t] == e
                                if not seen:
                                    ties[n_ties] = e
                                    tie_along[n_ties] = r
                                    n_ties += 1
                    i += step
            # the distance from the point to the edge of the bins searched: nothing outside is nearer
            covered = min(
                px - (corner[0] + (ci - ring) * bin_m),
                corner[0] + (ci + ring + 1) * bin_m - px,
                py - (corner[1] + (cj - ring) * bin_m),
                corner[1] + (cj + ring + 1) * bin_m - py,
            )
            whole = ci - ring <= 0 and cj - ring <= 0 and ci + ring >= n_bins_x - 1 and cj + ring >= n_bins_y - 1
            if best < covered or covered > max_distance or whole:
                break
            ring += 1
        if best > max_distance:
            continue
        while found + n_ties > len(place):
            place, edge, dist, along = grown(place), grown(edge), grown(dist), grown(along)
        for t in range(n_ties):
            place[found], edge[found], dist[found], along[found] = p, ties[t], best, tie_along[t]
            found += 1
    return place[:found], edge[:found], dist[:found], along[:found]


@njit(cache=True, nogil=True)
def _point_segment(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> tuple[float, float]:
    """GEOS's distance from a point to segment (`ax`, `ay`)-(`bx`, `by`), and the distance along it to the nearest point."""
    if ax == bx and ay == by:
        return math.sqrt((px - ax) ** 2 + (py - ay) ** 2), 0.0
    dx, dy = bx - ax, by - ay
    len2 = dx * dx + dy * dy
    r = ((px - ax) * dx + (py - ay) * dy) / len2
    if r <= 0.0:
        return math.sqrt((px - ax) ** 2 + (py - ay) ** 2), 0.0
    if r >= 1.0:
        return math.sqrt((px - bx) ** 2 + (py - by) ** 2), math.sqrt(len2)
    s = ((ay - py) * dx - (ax - px) * dy) / len2
    # along as shapely's line_locate_point gives it: the nearest point, projected onto the segment again
    cx, cy = ax + r * dx, ay + r * dy
    if cx == ax and cy == ay:
        return abs(s) * math.sqrt(len2), 0.0
    if cx == bx and cy == by:
        return abs(s) * math.sqrt(len2), math.sqrt(len2)
    again = min(max(((cx - ax) * dx + (cy - ay) * dy) / len2, 0.0), 1.0)
    return abs(s) * math.sqrt(len2), again * math.sqrt(len2)
