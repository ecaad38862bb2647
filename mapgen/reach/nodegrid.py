"""Street nodes binned on a square grid, to find the nodes under an isochrone's raster quickly."""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from mapgen.network import StreetGraph
from mapgen.reach.memo import per_graph

BIN_M = 250.0  # side of a grid bin, metres: a few hundred nodes per bin in a dense centre


@dataclass(frozen=True)
class NodeGrid:
    """The nodes of a street graph sorted by the grid bin they lie in (rows of bins from the lower left)."""

    corner: np.ndarray  # (2,) lower-left corner of bin (0, 0), metric CRS
    shape: tuple[int, int]  # bins across (x) and up (y)
    bin_ptr: np.ndarray  # (nx * ny + 1,) nodes of bin (i, j) are node[bin_ptr[j * nx + i] : bin_ptr[j * nx + i + 1]]
    node: np.ndarray  # (n,) graph node indices, by bin
    reached: np.ndarray  # (n,) scratch flags per graph node, all False between uses


_GRIDS: dict[int, tuple[weakref.ref, NodeGrid]] = {}


def node_grid(graph: StreetGraph) -> NodeGrid:
    """The :class:`NodeGrid` of `graph`, built on first use and kept while the graph lives."""
    return per_graph(_GRIDS, graph, _build_grid)


def _build_grid(graph: StreetGraph) -> NodeGrid:
    """Bin the nodes of `graph` (see :class:`NodeGrid`)."""
    xy = graph.node_xy
    corner = xy.min(axis=0) if len(xy) else np.zeros(2)
    ij = ((xy - corner) // BIN_M).astype(np.int64)
    nx, ny = (ij.max(axis=0) + 1) if len(xy) else (1, 1)
    key = ij[:, 1] * nx + ij[:, 0]
    order = np.argsort(key, kind="stable")
    bin_ptr = np.searchsorted(key[order], np.arange(nx * ny + 1))
    return NodeGrid(corner, (int(nx), int(ny)), bin_ptr, order, np.zeros(len(xy), dtype=np.bool_))
