"""Geometry of tiles: an area's grid, the tile of a point, buffered boxes, and the street graph of a cut."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from mapgen import osm_extract
from mapgen.config import Mode, Settings
from mapgen.geo import degrees_for_metres
from mapgen.network import StreetGraph, street_graph

BBox = tuple[float, float, float, float]


def tile_bbox(extent: BBox, grid: tuple[int, int], index: int) -> BBox:
    """Return tile `index` (row-major, from the south-west) of `extent` split into ``grid`` = (columns, rows).

    Parameters
    ----------
    extent
        (west, south, east, north) of the area, degrees.
    grid
        Number of columns and rows.
    index
        Tile number, ``0 .. columns × rows - 1``.

    Returns
    -------
    tuple
        (west, south, east, north) of the tile.
    """
    nx, ny = grid
    col, row = index % nx, index // nx
    west, south, east, north = extent
    dx, dy = (east - west) / nx, (north - south) / ny
    return west + col * dx, south + row * dy, west + (col + 1) * dx, south + (row + 1) * dy


def tile_of(points: gpd.GeoSeries, extent: BBox, grid: tuple[int, int], clamp: bool) -> np.ndarray:
    """Tile number of every point (half-open cells, so each point lies in exactly one tile).

    Parameters
    ----------
    points
        WGS-84 points.
    extent, grid
        As in :func:`tile_bbox`.
    clamp
        True: points outside `extent` go to the nearest edge tile (the area owns its whole
        extract); False: they get -1 (they belong to another area).

    Returns
    -------
    numpy.ndarray
        int tile numbers.
    """
    nx, ny = grid
    west, south, east, north = extent
    x, y = points.x.to_numpy(), points.y.to_numpy()
    col = np.floor((x - west) / (east - west) * nx).astype(int)
    row = np.floor((y - south) / (north - south) * ny).astype(int)
    inside = (col >= 0) & (col < nx) & (row >= 0) & (row < ny)
    tile = np.clip(row, 0, ny - 1) * nx + np.clip(col, 0, nx - 1)
    return tile if clamp else np.where(inside, tile, -1)


def expand_bbox(bbox: BBox, metres: float) -> BBox:
    """Grow `bbox` by at least `metres` on every side (degrees of longitude taken at the pole-ward edge)."""
    west, south, east, north = bbox
    dlon, dlat = degrees_for_metres(metres, max(abs(south), abs(north)))
    return west - dlon, south - dlat, east + dlon, north + dlat


def extent_of(points: gpd.GeoSeries) -> BBox:
    """Extent tiled when an area has no bbox: the box of its schools, so tiles share the routing work.

    Venues and schools of the extract beyond it belong to the nearest edge tile.
    """
    west, south, east, north = (float(v) for v in points.total_bounds)
    flat = west == east or south == north
    return expand_bbox((west, south, east, north), 1.0) if flat else (west, south, east, north)


def union_bbox(*boxes: BBox) -> BBox:
    """The smallest box holding every one of `boxes`."""
    arr = np.array(boxes, dtype=float)
    return float(arr[:, 0].min()), float(arr[:, 1].min()), float(arr[:, 2].max()), float(arr[:, 3].max())


def contains_bbox(outer: BBox, inner: BBox) -> bool:
    """Whether `inner` lies wholly inside `outer`."""
    return outer[0] <= inner[0] and outer[1] <= inner[1] and outer[2] >= inner[2] and outer[3] >= inner[3]


def cut_graph(extract: osm_extract.OsmExtract, mode: Mode, settings: Settings, bbox: BBox) -> StreetGraph:
    """Street graph of a cut, dropping small islands only when the cut cannot have made them small.

    :func:`~mapgen.network.street_graph` drops street islands smaller than
    ``settings.min_component_nodes``. A cut can split a large network into small
    pieces; each such piece has a node outside `bbox` (it was joined to the rest
    by ways lying wholly outside). Such "open" pieces are kept, so a cut never
    drops what the whole extract keeps; closed small islands are complete and
    dropped exactly as in an unpartitioned build.

    Parameters
    ----------
    extract
        The cut: ways and features touching `bbox` (:func:`mapgen.osm_extract.clip_extract`).
    mode
        ``"walk"`` or ``"bike"``.
    settings
        Speeds and the island size.
    bbox
        The box the cut was made with.

    Returns
    -------
    StreetGraph
    """
    everything = settings.model_copy(update={"min_component_nodes": 1})
    graph = street_graph(extract, mode, everything)
    _, labels = connected_components(
        csr_matrix((np.ones(len(graph.edge_u)), (graph.edge_u, graph.edge_v)), shape=(graph.n_nodes,) * 2),
        directed=True,
        connection="weak",
    )
    sizes = np.bincount(labels)
    west, south, east, north = bbox
    lon, lat = graph.node_lonlat[:, 0], graph.node_lonlat[:, 1]
    outside = (lon < west) | (lon > east) | (lat < south) | (lat > north)
    keep = sizes >= settings.min_component_nodes
    keep[labels[outside]] = True
    if not keep.any():
        keep[np.argmax(sizes)] = True
    if keep.all():
        return graph
    kept_nodes = graph.node_osmid[keep[labels]]
    first = np.fromiter((w.node_ids[0] for w in extract.highways), dtype=np.int64, count=len(extract.highways))
    ways = [w for w, k in zip(extract.highways, np.isin(first, kept_nodes), strict=True) if k]
    return street_graph(osm_extract.OsmExtract(extract.source, ways, extract.features), mode, everything)
