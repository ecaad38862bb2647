"""Street nodes binned on a square grid, to find the nodes under an isochrone's raster quickly."""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from mapgen.network import StreetGraph
from mapgen.reach.memo import per_graph

BIN_M = 250.0  # side of a grid bin, metres: a few hundred nodes per bin in a dense centre


@dataclass(frozen=True)
class NodeGrid:
    """Every street node of a graph, its islands' too, sorted by the grid bin it lies in (rows from the lower left).

    Nodes ``0 .. n - 1`` are the graph's; the islands' follow (streets in parts too small to keep,
    which no search reaches), with their edges in the same arrays.
    """

    corner: np.ndarray  # (2,) lower-left corner of bin (0, 0), metric CRS
    shape: tuple[int, int]  # bins across (x) and up (y)
    bin_ptr: np.ndarray  # (nx * ny + 1,) nodes of bin (i, j) are node[bin_ptr[j * nx + i] : bin_ptr[j * nx + i + 1]]
    node: np.ndarray  # (n + k,) node indices, by bin
    xy: np.ndarray  # (n + k, 2) node coordinates, metric CRS
    binned_xy: np.ndarray  # (n + k, 2) the coordinates of `node`, in its order (read in turn, not each from `xy`)
    indptr: np.ndarray  # (n + k + 1,) the edges out of node i are indices[indptr[i] : indptr[i + 1]] (CSR)
    indices: np.ndarray  # head node of each edge
    reached: np.ndarray  # (n + k,) scratch flags per node, all False between uses


_GRIDS: dict[int, tuple[weakref.ref, NodeGrid]] = {}


def node_grid(graph: StreetGraph) -> NodeGrid:
    """The :class:`NodeGrid` of `graph`, built on first use and kept while the graph lives."""
    return per_graph(_GRIDS, graph, _build_grid)


def _build_grid(graph: StreetGraph) -> NodeGrid:
    """Bin the nodes of `graph` and of its islands (see :class:`NodeGrid`)."""
    n = graph.n_nodes
    xy = np.concatenate([graph.node_xy, graph.island_xy])
    u = np.concatenate([graph.edge_u, graph.island_edge[:, 0] + n]).astype(np.int64)
    v = np.concatenate([graph.edge_v, graph.island_edge[:, 1] + n]).astype(np.int64)
    edges = sp.csr_matrix((np.ones(len(u), dtype=np.int8), (u, v)), shape=(len(xy), len(xy)))
    corner = xy.min(axis=0) if len(xy) else np.zeros(2)
    ij = ((xy - corner) // BIN_M).astype(np.int64)
    nx, ny = (ij.max(axis=0) + 1) if len(xy) else (1, 1)
    key = ij[:, 1] * nx + ij[:, 0]
    order = np.argsort(key, kind="stable")
    bin_ptr = np.searchsorted(key[order], np.arange(nx * ny + 1))
    return NodeGrid(
        corner,
        (int(nx), int(ny)),
        bin_ptr,
        order,
        xy,
        xy[order],
        edges.indptr,
        edges.indices,
        np.zeros(len(xy), dtype=np.bool_),
    )


def listed_in_boxes(
    corner: np.ndarray, shape: tuple[int, int], bin_ptr: np.ndarray, boxes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """What a grid lists under the bins each box overlaps: (box index, position in the grid's list), by box.

    The grid is binned as :class:`NodeGrid` is (bins of :data:`BIN_M`, rows from the lower left,
    the items of bin (i, j) at ``bin_ptr[j * nx + i]`` up to the next bin's); the bins of one
    row of a box lie next to each other in that list, so each row is one slice of it.

    Parameters
    ----------
    corner, shape, bin_ptr
        The grid (a :class:`NodeGrid`'s or :class:`~mapgen.reach.edgegrid.EdgeGrid`'s).
    boxes
        (k, 4) west, south, east, north in the grid's metric CRS.

    Returns
    -------
    tuple of numpy.ndarray
        Box index and list position of every item listed under a bin the box overlaps (an item
        listed under several of those bins comes once for each).
    """
    n_x, n_y = shape
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    low = np.floor((boxes[:, :2] - corner) / BIN_M)
    high = np.floor((boxes[:, 2:] - corner) / BIN_M)
    on_grid = (high >= 0).all(axis=1) & (low[:, 0] < n_x) & (low[:, 1] < n_y)  # False for an empty shape's NaN
    limit = np.array([n_x - 1, n_y - 1])
    low = np.where(on_grid[:, None], np.clip(low, 0, limit), 0).astype(np.int64)
    high = np.where(on_grid[:, None], np.clip(high, 0, limit), 0).astype(np.int64)
    rows = np.where(on_grid, high[:, 1] - low[:, 1] + 1, 0)
    box = np.repeat(np.arange(len(boxes)), rows)
    row = low[box, 1] + np.arange(len(box)) - np.repeat(np.cumsum(rows) - rows, rows)
    start = bin_ptr[row * n_x + low[box, 0]]
    count = bin_ptr[row * n_x + high[box, 0] + 1] - start
    position = np.repeat(start - (np.cumsum(count) - count), count) + np.arange(count.sum())
    return np.repeat(box, count), position


def nodes_in_boxes(graph: StreetGraph, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The graph's nodes inside each box, borders included: (box index, node), by box and node.

    Parameters
    ----------
    graph
        The street graph.
    boxes
        (k, 4) west, south, east, north in the graph's metric CRS.

    Returns
    -------
    tuple of numpy.ndarray
        One row per node inside a box (the islands' nodes, which no search reaches, left out).
    """
    grid = node_grid(graph)
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    box, position = listed_in_boxes(grid.corner, grid.shape, grid.bin_ptr, boxes)
    node, xy = grid.node[position], grid.binned_xy[position]
    inside = (
        (node < graph.n_nodes)
        & (xy[:, 0] >= boxes[box, 0])
        & (xy[:, 0] <= boxes[box, 2])
        & (xy[:, 1] >= boxes[box, 1])
        & (xy[:, 1] <= boxes[box, 3])
    )
    box, node = box[inside], node[inside]
    order = np.lexsort((node, box))
    return box[order], node[order]
