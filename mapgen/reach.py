"""Exact travel times from schools to venues and isochrone polygons over a street graph."""

from __future__ import annotations

import functools
import multiprocessing
import os
import sys
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import cv2
import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra

from mapgen.config import Settings
from mapgen.network import MIN_EDGE_MINUTES, StreetGraph, edges_matrix

T = TypeVar("T")

# Bound on the (origins × nodes) distance block held in memory at once.
_BLOCK_BYTES = 256 * 2**20


@dataclass(frozen=True)
class Attachment:
    """Links that join places (schools or venues) to a street graph.

    Link ``k`` joins place ``place[k]`` and graph node ``node[k]`` with an
    access leg of ``minutes[k]`` (distance to the street plus the part of the
    edge travelled, at the mode's speed).
    """

    place: np.ndarray
    node: np.ndarray
    minutes: np.ndarray
    snap_m: np.ndarray  # per place: distance to the nearest street, NaN when none within reach

    @property
    def attached(self) -> np.ndarray:
        """Mask of places that have at least one link."""
        return ~np.isnan(self.snap_m)


def attach(graph: StreetGraph, footprints: np.ndarray, *, leaving: bool, settings: Settings) -> Attachment:
    """Join places to the graph at their nearest street edge(s) and, for areas, their entrances.

    A point is joined to the nearest edge (not only its nearest node): leaving
    it, one travels to the edge's head node; arriving, one comes from its tail
    node; the leg covers the distance to the edge and the part of the edge
    travelled. A campus or park is also joined, at no cost, to every street node
    within ``settings.access_buffer_m`` of its outline. Places farther than
    ``settings.max_snap_m`` from every edge get no link.

    Parameters
    ----------
    graph
        The street graph.
    footprints
        Shapely geometries in the graph's metric CRS (points or polygons).
    leaving
        True for origins (schools), False for destinations (venues).
    settings
        Snapping distances.

    Returns
    -------
    Attachment
    """
    footprints = np.asarray(footprints, dtype=object)
    lines = graph.edge_lines
    m_per_min = graph.speed_kmh * 1000.0 / 60.0
    place, edge = graph.edge_tree.query_nearest(footprints, max_distance=settings.max_snap_m, all_matches=True)
    dist = shapely.distance(footprints[place], lines[edge])
    on_edge = shapely.get_point(shapely.shortest_line(lines[edge], footprints[place]), 0)
    along = shapely.line_locate_point(lines[edge], on_edge)
    length = graph.edge_length_m[edge]
    node = graph.edge_v[edge] if leaving else graph.edge_u[edge]
    leg = dist + (length - along if leaving else along)

    areas = np.flatnonzero(shapely.get_dimensions(footprints) == 2)
    area_i, entrance = graph.node_tree.query(
        shapely.buffer(footprints[areas], settings.access_buffer_m), predicate="intersects"
    ) if len(areas) else (np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp))
    snap_m = np.full(len(footprints), np.nan)
    np.fmin.at(snap_m, place, dist)
    snap_m[areas[area_i]] = 0.0
    return Attachment(
        place=np.concatenate([place, areas[area_i]]),
        node=np.concatenate([node, entrance]).astype(np.int64),
        minutes=np.maximum(np.concatenate([leg / m_per_min, np.zeros(len(entrance))]), MIN_EDGE_MINUTES),
        snap_m=snap_m,
    )


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
        mine = np.concatenate([by_place[link_start[i]:link_start[i + 1]] for i in group])
        local = np.searchsorted(nodes, origins.node[mine])
        row = np.repeat(np.arange(k), link_start[group + 1] - link_start[group])
        # local graph: the streets in reach, then one row per origin (origins only send)
        sub = sp.bmat([
            [streets[nodes][:, nodes], sp.csr_matrix((len(nodes), k))],
            [edges_matrix(row, local, origins.minutes[mine], max(k, len(nodes)))[:k, : len(nodes)],
             sp.csr_matrix((k, k))],
        ], format="csr")
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


def reached_segments(
    graph: StreetGraph, nodes: np.ndarray, minutes: np.ndarray, limit: float
) -> tuple[np.ndarray, np.ndarray]:
    """Street segments travelled within `limit` minutes, the frontier edges cut where time runs out.

    Parameters
    ----------
    graph
        The street graph.
    nodes, minutes
        Reached node indices and their minutes.
    limit
        Time limit in minutes.

    Returns
    -------
    tuple of numpy.ndarray
        Start and end points (metric CRS), each (k, 2).
    """
    matrix = graph.matrix
    live = minutes < limit
    tail, start_min = nodes[live], minutes[live]
    first = matrix.indptr[tail]
    count = matrix.indptr[tail + 1] - first
    owner = np.repeat(np.arange(len(tail)), count)
    edge = np.arange(len(owner)) - np.repeat(np.cumsum(count) - count, count) + first[owner]
    frac = np.minimum((limit - start_min[owner]) / matrix.data[edge], 1.0)
    a = graph.node_xy[tail[owner]]
    return a, a + frac[:, None] * (graph.node_xy[matrix.indices[edge]] - a)


def isochrone_polygon(
    graph: StreetGraph,
    node_minutes: np.ndarray,
    limit: float,
    buffer_m: float,
    origin: shapely.Geometry | None = None,
    cell_m: float | None = None,
    *,
    max_cells: int = 65536,
    fill_m2: float = 0.0,
) -> shapely.Geometry:
    """Polygon of the street network reached within `limit` minutes.

    Every edge whose tail is reached contributes the part of it travelled
    before time runs out (interpolated along the edge); the area within
    `buffer_m` of those segments (and of the origin's footprint) is the
    polygon. It is traced on a raster (OpenCV): the segments are drawn one
    cell thick, widened by `buffer_m` (a dilation with a disc), enclosed holes
    smaller than `fill_m2` are filled (blocks ringed by reached streets), and
    the outlines are traced and simplified to one cell before any shapely
    object exists. The cell is `cell_m` or, when the reached extent would need
    more than `max_cells` cells, as large as that extent requires. Unlike a
    convex hull, rivers, rail yards and parks larger than `fill_m2` that no
    reached street crosses stay outside.

    Parameters
    ----------
    graph
        The street graph.
    node_minutes
        Minutes to every node from the origin (``inf`` where not reached).
    limit
        Time limit in minutes.
    buffer_m
        Half-width of the band drawn around reached segments.
    origin
        The origin's own footprint (metric CRS), included in the polygon.
    cell_m
        Smallest grid cell (default ``buffer_m / 2.5``, 10 m for the default 25 m band).
    max_cells
        Most cells of the raster; the cell grows beyond `cell_m` to stay within it.
    fill_m2
        Holes smaller than this (square metres) are filled.

    Returns
    -------
    shapely.Geometry
        Polygon or MultiPolygon in the graph's metric CRS (empty when nothing is reached).
    """
    nodes = np.flatnonzero(node_minutes <= limit)
    return reached_polygon(graph, nodes, node_minutes[nodes], limit, buffer_m, origin, cell_m,
                           max_cells=max_cells, fill_m2=fill_m2)


def reached_polygon(
    graph: StreetGraph,
    nodes: np.ndarray,
    minutes: np.ndarray,
    limit: float,
    buffer_m: float,
    origin: shapely.Geometry | None = None,
    cell_m: float | None = None,
    *,
    max_cells: int = 65536,
    fill_m2: float = 0.0,
) -> shapely.Geometry:
    """:func:`isochrone_polygon` from reached nodes only (node indices and their minutes)."""
    return reached_polygons(graph, nodes, minutes, [limit], buffer_m, origin, cell_m,
                            max_cells=max_cells, fill_m2=fill_m2)[0]


def reached_polygons(
    graph: StreetGraph,
    nodes: np.ndarray,
    minutes: np.ndarray,
    bands: Sequence[float],
    buffer_m: float,
    origin: shapely.Geometry | None = None,
    cell_m: float | None = None,
    *,
    max_cells: int = 65536,
    fill_m2: float = 0.0,
) -> list[shapely.Geometry]:
    """Nested isochrone polygons, one per band, from reached nodes (see :func:`isochrone_polygon`).

    All bands are traced on one raster, and every band draws the segments of
    the smaller bands too, so each polygon contains the smaller ones (to the
    one-cell simplification).

    Parameters
    ----------
    graph
        The street graph.
    nodes, minutes
        Reached node indices and their minutes (searched to at least the largest band).
    bands
        Time limits in minutes.
    buffer_m
        Half-width of the band drawn around reached segments.
    origin
        The origin's own footprint (metric CRS), included in every polygon.
    cell_m
        Smallest grid cell (default ``buffer_m / 2.5``).
    max_cells
        Most cells of the raster.
    fill_m2
        Holes smaller than this (square metres) are filled.

    Returns
    -------
    list of shapely.Geometry
        Polygons in the order of sorted `bands` (metric CRS; empty where nothing is reached).
    """
    bands = sorted(bands)
    segments = [reached_segments(graph, nodes, minutes, band) for band in bands]
    outlines = trace_outlines(segments, origin, buffer_m, cell_m or buffer_m / 2.5, max_cells, fill_m2)
    return [outline.geometry(outline.xy) for outline in outlines]


@dataclass(frozen=True)
class Outline:
    """One traced isochrone as ragged arrays: ring vertices, ring and polygon offsets (shapely's layout).

    Rings are closed; polygon ``k`` holds rings ``polygon_offsets[k]:polygon_offsets[k + 1]``,
    the first its shell, the others its holes.
    """

    xy: np.ndarray  # (n, 2) vertices, metric CRS
    ring_offsets: np.ndarray  # (r + 1,)
    polygon_offsets: np.ndarray  # (p + 1,)

    def geometry(self, xy: np.ndarray) -> shapely.Geometry:
        """The outline as a valid (Multi)Polygon, on vertices `xy` (``self.xy`` or the same points in another CRS)."""
        n_parts = len(self.polygon_offsets) - 1
        if n_parts == 0:
            return _EMPTY
        kind = shapely.GeometryType.POLYGON if n_parts == 1 else shapely.GeometryType.MULTIPOLYGON
        offsets: tuple[np.ndarray, ...] = (self.ring_offsets, self.polygon_offsets)
        if n_parts > 1:
            offsets += (np.array([0, n_parts]),)
        shape = shapely.from_ragged_array(kind, xy, offsets)[0]
        # simplified rings a cell apart may cross where blocks nearly touch: re-noded, areas kept
        return shape if shapely.is_valid(shape) else shapely.buffer(shape, 0)


_EMPTY = shapely.Polygon()
_NO_OUTLINE = Outline(np.empty((0, 2)), np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64))


def trace_outlines(
    segments: Sequence[tuple[np.ndarray, np.ndarray]],
    origin: shapely.Geometry | None,
    buffer_m: float,
    cell_m: float,
    max_cells: int,
    fill_m2: float,
) -> list[Outline]:
    """Outlines of the area within `buffer_m` of each set of segments (and of `origin`), on one raster.

    Parameters
    ----------
    segments
        Per band, start and end points (k, 2) of its segments (see :func:`reached_segments`);
        the last set spans the others.
    origin
        Footprint (point or area, metric CRS) added to every outline, or None.
    buffer_m
        Half-width of the band around the segments.
    cell_m
        Smallest raster cell.
    max_cells
        Most raster cells: the cell grows with the extent to stay within it.
    fill_m2
        Enclosed holes smaller than this (square metres) are filled.

    Returns
    -------
    list of Outline
        One per set of segments.
    """
    last_b = segments[-1][1]
    dots = np.empty((0, 2))
    shells: list[np.ndarray] = []
    if origin is not None and not shapely.is_empty(origin):
        if shapely.get_dimensions(origin) == 2:
            shells = [shapely.get_coordinates(ring) for ring in shapely.get_exterior_ring(shapely.get_parts(origin))]
        else:
            dots = shapely.get_coordinates(origin)
    every = np.concatenate([last_b, dots, *shells])  # every start is another segment's end or a cell from one
    if not len(every):
        return [_NO_OUTLINE] * len(segments)
    lo, hi = every.min(axis=0), every.max(axis=0)
    span = hi - lo + 2 * buffer_m
    cell = max(cell_m, float(np.sqrt(span[0] * span[1] / max_cells)))
    radius = max(1, round(buffer_m / cell))
    origin_xy = lo - (radius + 2) * cell  # pixel (0, 0); a background margin of two cells all round
    width, height = (np.ceil((hi - origin_xy) / cell) + radius + 3).astype(int)
    canvas = np.zeros((height, width), dtype=np.uint8)
    if len(dots):
        _mark(canvas, (dots - origin_xy) / cell)
    if shells:  # OpenCV draws on fixed-point pixel coordinates, here with 2 fractional bits
        cv2.fillPoly(canvas, [((s - origin_xy) * (4.0 / cell)).round().astype(np.int32) for s in shells], 1,
                     cv2.LINE_8, 2)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    fill_px = fill_m2 / cell**2
    outlines = []
    for a, b in segments:
        end, step = (b - origin_xy) / cell, (b - a) / cell
        steps = np.ceil(np.maximum(np.abs(step[:, 0]), np.abs(step[:, 1]))).astype(np.intp)
        long = np.flatnonzero(steps > 1)  # longer than a cell: sampled every cell or less back from its end
        back = np.repeat(long, steps[long] - 1)
        k = np.arange(1, len(back) + 1) - np.repeat(np.cumsum(steps[long] - 1) - steps[long] + 1, steps[long] - 1)
        _mark(canvas, np.concatenate([end, end[back] - (k / steps[back])[:, None] * step[back]]))
        outlines.append(_outline(cv2.dilate(canvas, disc), origin_xy, cell, fill_px))
    return outlines


def _mark(canvas: np.ndarray, px: np.ndarray) -> None:
    """Mark, in place, the cells of `canvas` under the points `px` (pixel coordinates, x then y)."""
    cells = (px + 0.5).astype(np.intp)
    canvas[cells[:, 1], cells[:, 0]] = 1


def _outline(band: np.ndarray, origin_xy: np.ndarray, cell: float, fill_px: float) -> Outline:
    """Trace the outlines of the marked cells, fill holes under `fill_px` cells, simplify to one cell, georeference.

    Contours nest (OpenCV's tree): shells at even depth, holes at odd depth. A
    hole smaller than `fill_px` is dropped with everything inside it, which
    fills it; the rest are simplified (Douglas-Peucker, one cell) as pixel chains.
    """
    contours, hierarchy = cv2.findContours(band, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return _NO_OUTLINE
    parent = hierarchy[0][:, 3]
    depth = np.zeros(len(parent), dtype=np.intp)
    up = parent.copy()
    while (up >= 0).any():
        depth += up >= 0
        up = np.where(up >= 0, parent[up], -1)
    keep = np.ones(len(parent), dtype=bool)
    holes = np.flatnonzero(depth % 2 == 1)
    if fill_px >= 1 and len(holes):
        keep[holes[np.array([cv2.contourArea(contours[int(k)]) for k in holes]) < fill_px]] = False
        inside_filled = np.zeros(len(parent), dtype=bool)
        up = parent.copy()
        while (up >= 0).any():
            inside_filled |= (up >= 0) & ~keep[np.maximum(up, 0)]
            up = np.where(up >= 0, parent[up], -1)
        keep &= ~inside_filled
    rings: list[np.ndarray] = []
    ring_offsets, polygon_offsets = [0], [0]
    for shell in np.flatnonzero(keep & (depth % 2 == 0)):
        for k in (shell, *np.flatnonzero(keep & (parent == shell))):
            ring = cv2.approxPolyDP(contours[int(k)], 1.0, True)[:, 0]
            if len(ring) < 3:
                if k == shell:
                    break
                continue
            rings += [ring, ring[:1]]
            ring_offsets.append(ring_offsets[-1] + len(ring) + 1)
        if len(ring_offsets) - 1 > polygon_offsets[-1]:
            polygon_offsets.append(len(ring_offsets) - 1)
    if len(polygon_offsets) == 1:
        return _NO_OUTLINE
    return Outline(np.concatenate(rings) * cell + origin_xy, np.array(ring_offsets), np.array(polygon_offsets))


@dataclass(frozen=True)
class PointIsochrones:
    """Isochrones around points: one WGS-84 polygon per point and band."""

    bands: list[float]  # sorted, minutes
    geometry: np.ndarray  # (k, len(bands)) object: shapely polygons, WGS-84 (empty where not snapped)
    snap_m: np.ndarray  # (k,) metres from each point to its street, NaN where none within max_snap_m

    @property
    def attached(self) -> np.ndarray:
        """Mask of points that were joined to a street."""
        return ~np.isnan(self.snap_m)


def isochrones_around(
    graph: StreetGraph, lonlat: np.ndarray, bands: Sequence[float], settings: Settings
) -> PointIsochrones:
    """Nested isochrones around WGS-84 points, arrays in and arrays out (no data frames on the way).

    Each point is joined to its nearest street edge (:func:`attach`) and routed
    by an exact bounded Dijkstra on the part of the graph within reach of it
    (:func:`nearby_minutes`); the polygons are traced by :func:`trace_outlines`
    with the settings' band, cell, cell budget and hole filling.

    Parameters
    ----------
    graph
        Street graph of one mode.
    lonlat
        (k, 2) longitudes and latitudes.
    bands
        Time limits in minutes.
    settings
        Snapping and polygon settings.

    Returns
    -------
    PointIsochrones
    """
    bands = sorted(bands)
    to_xy, to_lonlat = _transformers(graph.crs.srs)
    xy = np.column_stack(to_xy.transform(lonlat[:, 0], lonlat[:, 1]))
    points = shapely.points(xy)
    links = attach(graph, points, leaving=True, settings=settings)
    by_point = np.argsort(links.place, kind="stable")
    start = np.searchsorted(links.place[by_point], np.arange(len(xy) + 1))
    geometry = np.full((len(xy), len(bands)), _EMPTY, dtype=object)
    cell = settings.isochrone_cell_m or settings.isochrone_buffer_m / 2.5
    for i in np.flatnonzero(np.diff(start)):
        mine = by_point[start[i]:start[i + 1]]
        nodes, minutes = nearby_minutes(graph, links.node[mine], links.minutes[mine], bands[-1])
        outlines = trace_outlines([reached_segments(graph, nodes, minutes, band) for band in bands], points[i],
                                  settings.isochrone_buffer_m, cell, settings.isochrone_max_cells,
                                  settings.isochrone_fill_m2)
        every = np.concatenate([o.xy for o in outlines])
        lon_lat = np.column_stack(to_lonlat.transform(every[:, 0], every[:, 1]))
        ends = np.cumsum([len(o.xy) for o in outlines])
        geometry[i] = [o.geometry(part) for o, part in zip(outlines, np.split(lon_lat, ends[:-1]), strict=True)]
    return PointIsochrones(bands=bands, geometry=geometry, snap_m=links.snap_m)


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
        Reached graph node indices and their minutes (at most `limit`), sorted by node.
    """
    ch = chains(graph)
    start: dict[int, float] = {}
    near_nodes, near_minutes = [link_nodes], [link_minutes]
    for node, leg in zip(link_nodes.tolist(), link_minutes.tolist(), strict=True):
        if ch.kept[node] >= 0:
            start[int(ch.kept[node])] = min(start.get(int(ch.kept[node]), np.inf), leg)
            continue
        for e in ch.node_entry[ch.node_entry_ptr[node]:ch.node_entry_ptr[node + 1]].tolist():
            c = int(ch.entry_chain[e])
            stop = int(ch.chain_entries[c + 1])
            end = int(ch.chain_end[c])
            start[end] = min(start.get(end, np.inf), leg + float(ch.chain_minutes[c] - ch.entry_cum[e]))
            near_nodes.append(ch.entry_node[e + 1:stop])  # further along the origin's own chain
            near_minutes.append(leg + ch.entry_cum[e + 1:stop] - ch.entry_cum[e])
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
    best = np.full(graph.n_nodes, np.inf)  # an inner node lies on the chains of both directions: keep the faster
    np.minimum.at(best, nodes, minutes)
    hit = np.flatnonzero(best <= limit)
    return hit, best[hit]


@dataclass(frozen=True)
class Chains:
    """A street graph with its pass-through nodes contracted into chains, for exact searches around one origin.

    A pass-through node has two neighbours and either two-way edges to both
    or one edge in from one and one out to the other; every other node is
    kept. A chain runs from a kept node through pass-through nodes to the
    next kept node (one per direction of travel). ``matrix`` joins kept nodes
    by their fastest chain; entries list the chains' inner nodes in order.
    """

    kept: np.ndarray  # (n,) kept index of each graph node, -1 for pass-through nodes
    kept_nodes: np.ndarray  # (k,) graph node of each kept index
    matrix: sp.csr_matrix  # (k, k) minutes along the fastest chain between kept nodes
    entry_ptr: np.ndarray  # (k + 1,) entries of the chains leaving each kept node
    entry_node: np.ndarray  # (e,) graph node of each entry, in order along its chain
    entry_cum: np.ndarray  # (e,) minutes from the chain's start to the entry
    entry_chain: np.ndarray  # (e,) chain of each entry
    chain_entries: np.ndarray  # (c + 1,) entries of each chain
    chain_end: np.ndarray  # (c,) kept index where each chain ends
    chain_minutes: np.ndarray  # (c,) minutes of each chain
    node_entry_ptr: np.ndarray  # (n + 1,) entries of each graph node
    node_entry: np.ndarray  # entries grouped by graph node


_CHAINS: dict[int, tuple[weakref.ref, Chains]] = {}


def chains(graph: StreetGraph) -> Chains:
    """The :class:`Chains` of `graph`, built on first use and kept while the graph lives."""
    entry = _CHAINS.get(id(graph))
    if entry is None or entry[0]() is not graph:
        for key in [k for k, (ref, _) in _CHAINS.items() if ref() is None]:
            del _CHAINS[key]
        entry = (weakref.ref(graph), _build_chains(graph))
        _CHAINS[id(graph)] = entry
    return entry[1]


def _build_chains(graph: StreetGraph) -> Chains:
    """Contract the pass-through nodes of `graph` (see :class:`Chains`)."""
    matrix = graph.matrix
    n = graph.n_nodes
    both = (matrix + matrix.T).tocsr()
    degree = np.diff(both.indptr)
    out_degree, in_degree = np.diff(matrix.indptr), np.diff(matrix.T.tocsr().indptr)
    passing = (degree == 2) & (((in_degree == 2) & (out_degree == 2)) | ((in_degree == 1) & (out_degree == 1)))
    indptr, indices, data = matrix.indptr.tolist(), matrix.indices.tolist(), matrix.data.tolist()
    while True:
        kept_nodes = np.flatnonzero(~passing)
        walks = _walk_chains(kept_nodes.tolist(), passing.tolist(), indptr, indices, data)
        seen = np.zeros(n, dtype=bool)
        for _, _, inner, _ in walks:
            seen[inner] = True
        loops = passing & ~seen  # rings of pass-through nodes that no kept node reaches: keep their nodes
        if not loops.any():
            break
        passing &= ~loops
    kept = np.full(n, -1, dtype=np.int64)
    kept[kept_nodes] = np.arange(len(kept_nodes))
    tail = np.array([kept[w[0]] for w in walks], dtype=np.int64)
    head = np.array([kept[w[1]] for w in walks], dtype=np.int64)
    total = np.array([w[3][-1] for w in walks])
    sizes = np.array([len(w[2]) for w in walks], dtype=np.int64)
    entry_node = np.array([node for w in walks for node in w[2]], dtype=np.int64)
    entry_cum = np.array([cum for w in walks for cum in w[3][:-1]])
    entry_chain = np.repeat(np.arange(len(walks)), sizes)
    loop = tail == head
    by_node = np.argsort(entry_node, kind="stable")
    return Chains(
        kept=kept,
        kept_nodes=kept_nodes,
        matrix=edges_matrix(tail[~loop], head[~loop], total[~loop], len(kept_nodes)),
        entry_ptr=np.searchsorted(np.repeat(tail, sizes), np.arange(len(kept_nodes) + 1)),
        entry_node=entry_node,
        entry_cum=entry_cum,
        entry_chain=entry_chain,
        chain_entries=np.concatenate([[0], np.cumsum(sizes)]),
        chain_end=head,
        chain_minutes=total,
        node_entry_ptr=np.searchsorted(entry_node[by_node], np.arange(n + 1)),
        node_entry=by_node,
    )


def _walk_chains(
    starts: list[int], passing: list[bool], indptr: list[int], indices: list[int], data: list[float]
) -> list[tuple[int, int, list[int], list[float]]]:
    """Follow every edge out of every kept node through pass-through nodes to the next kept node.

    Returns (start, end, inner nodes, minutes from the start to each inner node and to the end) per chain,
    in the order of `starts`.
    """
    walks = []
    for s in starts:
        for k in range(indptr[s], indptr[s + 1]):
            prev, node, cum = s, indices[k], data[k]
            inner: list[int] = []
            cums: list[float] = []
            while passing[node]:
                inner.append(node)
                cums.append(cum)
                a, b = indptr[node], indptr[node + 1]
                step = a if b - a == 1 or indices[a] != prev else a + 1
                prev, node, cum = node, indices[step], cum + data[step]
            cums.append(cum)
            walks.append((s, node, inner, cums))
    return walks


@functools.lru_cache(maxsize=8)
def _transformers(srs: str) -> tuple[pyproj.Transformer, pyproj.Transformer]:
    """WGS-84 to the metric CRS `srs` and back."""
    return (pyproj.Transformer.from_crs(4326, srs, always_xy=True),
            pyproj.Transformer.from_crs(srs, 4326, always_xy=True))


def isochrone_quality(
    graph: StreetGraph, node_minutes: np.ndarray, polygon: shapely.Geometry, limit: float, slack: float = 1.1
) -> tuple[float, float]:
    """Honesty of an isochrone polygon against the exact node minutes.

    Parameters
    ----------
    graph
        The street graph.
    node_minutes
        Exact minutes to every node (``inf`` where not reached; searched to at least ``slack * limit``).
    polygon
        The isochrone (metric CRS).
    limit
        Its time limit in minutes.
    slack
        Nodes slower than ``slack * limit`` count as overreach.

    Returns
    -------
    tuple of float
        (share of nodes reached within `limit` that lie inside the polygon,
        share of the nodes inside the polygon whose time exceeds ``slack * limit``)
    """
    inside = shapely.contains_xy(polygon, graph.node_xy[:, 0], graph.node_xy[:, 1])
    reached = node_minutes <= limit
    covered = float(inside[reached].mean()) if reached.any() else 1.0
    over = float((node_minutes[inside] > slack * limit).mean()) if inside.any() else 0.0
    return covered, over


@dataclass(frozen=True)
class Reach:
    """What one travel mode reaches from every school."""

    pairs: pd.DataFrame  # school_id, venue_id, mode, minutes
    isochrones: gpd.GeoDataFrame  # school_id, mode, minutes, geometry (WGS-84)
    unattached_schools: list[str]
    unattached_venues: list[str]


def schools_reach(
    graph: StreetGraph,
    schools: gpd.GeoDataFrame,
    venues: gpd.GeoDataFrame,
    settings: Settings,
    bands: Sequence[float] | None = None,
    progress: object | None = None,
    isochrones: bool = True,
) -> Reach:
    """Travel minutes from every school to every venue within the limit, and isochrones.

    Schools are routed in parts of about 64 neighbours (:func:`reach_blocks`);
    with ``settings.reach_workers`` above 1 (0: one per CPU core) the parts are
    shared out to forked processes.

    Parameters
    ----------
    graph
        Street graph of one mode.
    schools, venues
        GeoDataFrames with ``school_id`` / ``venue_id`` and a ``footprint`` geometry column (WGS-84).
    settings
        Minutes limit, snapping, polygon and worker settings.
    bands
        Isochrone time limits (default: just ``settings.minutes``); the largest bounds the search.
    progress
        Optional callable ``progress(n_done)`` called as schools are done.
    isochrones
        False to skip the polygons (travel times only).

    Returns
    -------
    Reach
    """
    bands = sorted(bands or [settings.minutes])
    limit = max(bands[-1], settings.minutes)
    school_fp = to_metric(schools["footprint"], graph.crs)
    origins = attach(graph, school_fp, leaving=True, settings=settings)
    targets = attach(graph, to_metric(venues["footprint"], graph.crs), leaving=False, settings=settings)
    school_ids = schools["school_id"].to_numpy()
    venue_ids = venues["venue_id"].to_numpy()

    def work(ids: np.ndarray) -> tuple[pd.DataFrame, list[dict[str, object]]]:
        pair_parts, iso_rows = [], []
        for block in reach_blocks(graph, origins, len(schools), limit, ids=ids):
            target_min = block.target_minutes(targets, len(venues))
            rows, cols = np.nonzero(target_min <= settings.minutes)
            pair_parts.append(pd.DataFrame({
                "school_id": school_ids[block.ids[rows]], "venue_id": venue_ids[cols],
                "mode": graph.mode, "minutes": np.round(target_min[rows, cols], 2),
            }))
            for row, i in enumerate(block.ids if isochrones else []):
                nodes, minutes = block.reached(row)
                polys = reached_polygons(graph, nodes, minutes, bands, settings.isochrone_buffer_m,
                                         school_fp[i], settings.isochrone_cell_m,
                                         max_cells=settings.isochrone_max_cells, fill_m2=settings.isochrone_fill_m2)
                iso_rows += [{"row": i, "school_id": school_ids[i], "mode": graph.mode, "minutes": band,
                              "geometry": poly} for band, poly in zip(bands, polys, strict=True)]
        empty = pd.DataFrame(columns=["school_id", "venue_id", "mode", "minutes"])
        return pd.concat(pair_parts, ignore_index=True) if pair_parts else empty, iso_rows

    linked = np.flatnonzero(origins.attached)
    if callable(progress) and len(linked) < len(schools):
        progress(len(schools) - len(linked))
    pair_parts, iso_rows = [], []
    parts = origin_parts(graph, origins, linked)
    for ids, (pairs_part, rows) in run_parts(work, parts, _workers(settings)):
        pair_parts.append(pairs_part)
        iso_rows.extend(rows)
        if callable(progress):
            progress(len(ids))
    pairs = pd.concat(pair_parts, ignore_index=True) if pair_parts else pd.DataFrame(
        columns=["school_id", "venue_id", "mode", "minutes"]
    )
    iso = gpd.GeoDataFrame(
        iso_rows, columns=["row", "school_id", "mode", "minutes", "geometry"], geometry="geometry", crs=graph.crs
    ).sort_values(["row", "minutes"], ignore_index=True).drop(columns="row").to_crs(4326)
    shapes = iso.geometry.to_numpy()
    bad = ~shapely.is_valid(shapes)  # a vertex a hair from another ring's edge may cross it once reprojected
    shapes[bad] = shapely.make_valid(shapes[bad], method="structure")
    iso = iso.set_geometry(shapes, crs=4326)
    return Reach(
        pairs=pairs.sort_values(["school_id", "minutes", "venue_id"], ignore_index=True),
        isochrones=iso,
        unattached_schools=list(school_ids[~origins.attached]),
        unattached_venues=list(venue_ids[~targets.attached]),
    )


def origin_parts(graph: StreetGraph, origins: Attachment, ids: np.ndarray, size: int = 64) -> list[np.ndarray]:
    """Split origin indices into parts of about `size` neighbours (sorted along a Z-order curve of 1 km cells)."""
    first = np.full(int(origins.place.max(initial=-1)) + 1, -1)
    first[origins.place[::-1]] = origins.node[::-1]
    if not len(ids):
        return []
    cell = np.floor(graph.node_xy[first[ids]] / 1000.0).astype(np.int64)
    cell -= cell.min(axis=0)
    key = np.zeros(len(ids), dtype=np.int64)
    for bit in range(16):  # interleave bits: neighbours in space stay neighbours in the list
        key |= ((cell[:, 0] >> bit) & 1) << (2 * bit) | ((cell[:, 1] >> bit) & 1) << (2 * bit + 1)
    ordered = ids[np.argsort(key, kind="stable")]
    return np.array_split(ordered, max(1, -(-len(ids) // size)))


_TASK: list[Callable[[np.ndarray], object]] = []


def _run_task(ids: np.ndarray) -> object:
    return _TASK[-1](ids)


def run_parts(
    func: Callable[[np.ndarray], T], parts: list[np.ndarray], workers: int
) -> Iterator[tuple[np.ndarray, T]]:
    """Apply `func` to every part, in `workers` forked processes when more than one (results in order).

    The processes are forked, so `func` may be a closure over the graph: nothing
    but the parts and the results is pickled.
    """
    if workers <= 1 or len(parts) <= 1:
        for part in parts:
            yield part, func(part)
        return
    _TASK.append(func)
    try:
        with ProcessPoolExecutor(min(workers, len(parts)), mp_context=multiprocessing.get_context("fork")) as pool:
            yield from zip(parts, pool.map(_run_task, parts), strict=True)
    finally:
        _TASK.pop()


def _workers(settings: Settings) -> int:
    """Number of processes: ``settings.reach_workers`` (0: one per CPU core); 1 inside a daemon process."""
    if multiprocessing.current_process().daemon or sys.platform == "win32":
        return 1
    return settings.reach_workers or os.cpu_count() or 1


def to_metric(geoms: gpd.GeoSeries, crs: pyproj.CRS) -> np.ndarray:
    """Return WGS-84 geometries as a shapely array in the metric `crs`."""
    return np.asarray(gpd.GeoSeries(geoms, crs=4326).to_crs(crs).values, dtype=object)
