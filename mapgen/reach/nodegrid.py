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
