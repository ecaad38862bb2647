"""Exact travel times from schools to venues and isochrone polygons over a street graph."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import contourpy
import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import scipy.sparse as sp
import shapely
from scipy import ndimage
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
    )
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
) -> shapely.Geometry:
    """Polygon of the street network reached within `limit` minutes.

    Every edge whose tail is reached contributes the part of it travelled
    before time runs out (interpolated along the edge); the area within
    `buffer_m` of those segments (and of the origin's footprint) is the
    polygon. It is traced on a grid of `cell_m` cells in the metric CRS: the
    segments are rasterised, a Euclidean distance transform gives every cell's
    distance to the nearest reached segment, and the `buffer_m` contour of that
    field (marching squares, contourpy) is the outline. Unlike a convex hull,
    blocks and rivers that are not reached stay outside.

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
        Grid cell size (default ``buffer_m / 2.5``, 10 m for the default 25 m band).

    Returns
    -------
    shapely.Geometry
        Polygon or MultiPolygon in the graph's metric CRS (empty when nothing is reached).
    """
    nodes = np.flatnonzero(node_minutes <= limit)
    return reached_polygon(graph, nodes, node_minutes[nodes], limit, buffer_m, origin, cell_m)


def reached_polygon(
    graph: StreetGraph,
    nodes: np.ndarray,
    minutes: np.ndarray,
    limit: float,
    buffer_m: float,
    origin: shapely.Geometry | None = None,
    cell_m: float | None = None,
) -> shapely.Geometry:
    """:func:`isochrone_polygon` from reached nodes only (node indices and their minutes)."""
    return reached_polygons(graph, nodes, minutes, [limit], buffer_m, origin, cell_m)[0]


def reached_polygons(
    graph: StreetGraph,
    nodes: np.ndarray,
    minutes: np.ndarray,
    bands: Sequence[float],
    buffer_m: float,
    origin: shapely.Geometry | None = None,
    cell_m: float | None = None,
) -> list[shapely.Geometry]:
    """Nested isochrone polygons, one per band, from reached nodes (see :func:`isochrone_polygon`).

    All bands are traced on one grid aligned to multiples of the cell size, and
    every band rasterises the segments of the smaller bands too, so each
    polygon contains the smaller ones.

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
        Grid cell size (default ``buffer_m / 2.5``).

    Returns
    -------
    list of shapely.Geometry
        Polygons in the order of sorted `bands` (metric CRS; empty where nothing is reached).
    """
    cell = cell_m or buffer_m / 2.5
    area = origin is not None and shapely.get_dimensions(origin) == 2
    xs: list[np.ndarray] = []  # sample coordinates, kept as 1-D x and y arrays (fast reductions)
    ys: list[np.ndarray] = []
    if origin is not None and not shapely.is_empty(origin):
        outline = shapely.get_coordinates(shapely.segmentize(shapely.boundary(origin) if area else origin, cell / 2))
        xs.append(outline[:, 0])
        ys.append(outline[:, 1])
    polygons = []
    for band in sorted(bands):
        a, b = reached_segments(graph, nodes, minutes, band)
        dx, dy = b[:, 0] - a[:, 0], b[:, 1] - a[:, 1]
        steps = np.maximum(np.ceil(np.hypot(dx, dy) / (cell / 2)), 1).astype(np.int64)
        seg = np.repeat(np.arange(len(a)), steps + 1)
        t = (np.arange(len(seg)) - np.repeat(np.cumsum(steps + 1) - steps - 1, steps + 1)) / steps[seg]
        ends = graph.node_xy[nodes[minutes <= band]]
        xs += [a[seg, 0] + t * dx[seg], ends[:, 0]]
        ys += [a[seg, 1] + t * dy[seg], ends[:, 1]]
        polygons.append(_trace(np.concatenate(xs), np.concatenate(ys), cell, buffer_m, origin if area else None))
    return polygons


def _trace(
    x: np.ndarray, y: np.ndarray, cell: float, buffer_m: float, area: shapely.Geometry | None
) -> shapely.Geometry:
    """Outline of the points (`x`, `y`) and the `area` widened by `buffer_m`, traced on a grid of `cell`."""
    if not len(x):
        return shapely.Polygon()
    pad = buffer_m + 2 * cell
    x0, y0 = np.floor((x.min() - pad) / cell) * cell, np.floor((y.min() - pad) / cell) * cell  # one lattice
    nx, ny = int(np.ceil((x.max() + pad - x0) / cell)) + 1, int(np.ceil((y.max() + pad - y0) / cell)) + 1
    grid = np.zeros((ny, nx), dtype=bool)
    grid[((y - y0) / cell).astype(np.int64), ((x - x0) / cell).astype(np.int64)] = True
    cx = x0 + (np.arange(nx) + 0.5) * cell
    cy = y0 + (np.arange(ny) + 0.5) * cell
    if area is not None:
        gx, gy = np.meshgrid(cx, cy)
        grid |= shapely.contains_xy(area, gx, gy)
    # exact Euclidean distance (in cells) to the nearest marked cell, from the feature transform;
    # int32/float32 arithmetic instead of ndimage's float64 passes over index arrays
    near_y, near_x = ndimage.distance_transform_edt(~grid, return_distances=False, return_indices=True)
    near_y -= np.arange(ny, dtype=near_y.dtype)[:, None]
    near_x -= np.arange(nx, dtype=near_x.dtype)[None, :]
    near_y *= near_y
    near_x *= near_x
    near_y += near_x
    distance = np.sqrt(near_y, dtype=np.float32)
    # marked cell centres lie up to half a cell beside the street: the contour is drawn half a
    # cell closer, so the band is `buffer_m` wide on average, not `buffer_m` plus half a cell;
    # a level whose square is an integer would run through grid points, so it is nudged
    level = buffer_m / cell - 0.5
    if abs(level**2 - round(level**2)) < 1e-3:
        level += 0.01
    points, rings, outers = contourpy.contour_generator(  # type: ignore[misc]
        cx, cy, distance, fill_type=contourpy.FillType.ChunkCombinedOffsetOffset, chunk_size=0
    ).filled(-1.0, level)
    if points[0] is None:
        return shapely.Polygon()
    parts = shapely.from_ragged_array(shapely.GeometryType.POLYGON, points[0], (rings[0], outers[0]))
    traced = parts[0] if len(parts) == 1 else shapely.MultiPolygon(list(parts))
    simple = shapely.simplify(traced, cell / 4, preserve_topology=False)
    if shapely.is_valid(simple):
        return simple
    return traced if shapely.is_valid(traced) else shapely.make_valid(traced)


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
                                         school_fp[i], settings.isochrone_cell_m)
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
    ).sort_values(["row", "minutes"], ignore_index=True).drop(columns="row")
    return Reach(
        pairs=pairs.sort_values(["school_id", "minutes", "venue_id"], ignore_index=True),
        isochrones=iso.to_crs(4326),
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
